"""「XRD 现在能用吗」: the bot answers with the instrument's live status from its sensor."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from oversight.models import PowerState
from oversight.protocol import ReadingBody, sign_reading
from tests.bot.chat import Chat, TaggedInstruments, new_openid
from yixiang.db import utcnow

SECRETS: dict[str, str] = {}  # each sensor's, as registration showed it


async def report(chat: Chat, instrument_id, seq: int, watts: int) -> None:
    """A sensor on the instrument (registered once) reports ``watts`` a minute ago."""
    client, provider = chat.backend.client, await chat.headers("demo-provider")
    sensor_id = f"BOT-{str(instrument_id)[:8]}"
    r = await client.post(
        "/api/v1/oversight/sensors",
        json={"sensor_id": sensor_id, "instrument_id": str(instrument_id)},
        headers=provider,
    )
    if r.status_code == 201:
        SECRETS[sensor_id] = r.json()["secret"]
    body = ReadingBody(
        sensor_id=sensor_id, seq=seq, ts=utcnow() - timedelta(minutes=1), state=PowerState.on, watts=watts
    )
    message = msgspec.json.decode(sign_reading(body, SECRETS[sensor_id]))
    posted = await client.post("/api/v1/oversight/readings", json={"messages": [message]})
    assert posted.status_code == 200 and posted.json()["accepted"] == 1, posted.text


async def test_the_bot_says_whether_an_instrument_can_be_used_now(
    chat: Chat, instruments: TaggedInstruments
) -> None:
    sender, openid = chat.sender(), new_openid()

    reply = (await sender.text(openid, f"{instruments.nmr} 现在空闲吗")).content
    assert "尚未接入物联网传感器" in reply

    await report(chat, instruments.xrd_id, 1, 20)  # standby (under the default 50 W)
    reply = (await sender.text(openid, f"{instruments.xrd} 现在能用吗")).content
    assert "现在空闲" in reply and "待机" in reply

    await report(chat, instruments.xrd_id, 2, 900)
    reply = (await sender.text(openid, f"{instruments.xrd}现在有人用吗")).content
    assert "正在运行" in reply and "有人在用" in reply

    reply = (await sender.text(openid, "详情")).content  # the instrument's page says it too
    assert "现场状态：运行中" in reply
