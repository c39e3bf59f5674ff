"""What the oversight tests share: an instrument with a registered sensor, and signed messages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oversight.models import PowerState
from oversight.protocol import ReadingBody, sign_reading
from tests.booking.world import make_instrument
from yixiang.clock import SHANGHAI

P = "demo-provider"
READINGS = "/api/v1/oversight/readings"


@dataclass
class Monitored:
    instrument_id: uuid.UUID
    sensor_id: str
    secret: str

    def message(
        self, seq: int, at: datetime, state: str = "on", watts: int = 800, secret: str | None = None
    ) -> bytes:
        body = ReadingBody(sensor_id=self.sensor_id, seq=seq, ts=at, state=PowerState(state), watts=watts)
        return sign_reading(body, secret or self.secret)


async def monitored_instrument(
    backend: Any, client: Any, headers: dict[str, str], **thresholds: int
) -> Monitored:
    """A new instrument of 之江理工 with a sensor registered through the API (and thresholds set)."""
    world = await make_instrument(backend)
    sensor_id = f"S-{uuid.uuid4().hex[:12]}"
    r = await client.post(
        "/api/v1/oversight/sensors",
        json={"sensor_id": sensor_id, "instrument_id": str(world.instrument_id), "firmware": "1.0.0"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    if thresholds:
        body = {"running_watts": 100, "min_session_minutes": 5, "offline_after_minutes": 15, **thresholds}
        t = await client.put(
            f"/api/v1/oversight/instruments/{world.instrument_id}/thresholds", json=body, headers=headers
        )
        assert t.status_code == 200, t.text
    return Monitored(world.instrument_id, sensor_id, r.json()["secret"])


def at(day: str, hhmm: str) -> datetime:
    """A moment in Asia/Shanghai: at("2026-11-02", "09:30")."""
    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=SHANGHAI)


def workday(m: Monitored, day: str = "2026-11-02") -> list[bytes]:
    """A reading a minute, 09:00–12:00: on at 900 W from 09:10 to 10:40, standby (on, 20 W)
    otherwise, a 3-minute blip at 11:00, and off from 11:30."""
    start = at(day, "09:00")
    messages = []
    for minute in range(181):
        moment = start + timedelta(minutes=minute)
        if moment >= at(day, "11:30"):
            state, watts = "off", 0
        elif at(day, "09:10") <= moment < at(day, "10:40") or at(day, "11:00") <= moment < at(day, "11:03"):
            state, watts = "on", 900
        else:
            state, watts = "on", 20
        messages.append(m.message(minute + 1, moment, state, watts))
    return messages


async def post_batch(client: Any, messages: list[bytes]) -> dict[str, Any]:
    import msgspec

    envelopes = [msgspec.json.decode(m) for m in messages]
    r = await client.post(READINGS, json={"messages": envelopes})
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def sessions_of(
    client: Any, headers: dict[str, str], m: Monitored, first: str, last: str
) -> list[tuple[str, str, int]]:
    r = await client.get(
        f"/api/v1/oversight/instruments/{m.instrument_id}/sessions",
        params={"from": first, "to": last},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return [(s["start"], s["end"], s["energy_wh"]) for s in r.json()]
