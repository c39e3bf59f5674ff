"""The webhook under hostile bodies: random bytes, truncated pushes and XML attacks (entity
expansion, external entities, huge attributes, deep nesting), correctly signed where a signature
gets them further in. Every answer is a quiet 2xx/4xx, within a bounded time and memory.
"""

from __future__ import annotations

import asyncio
import resource
import time
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.settings import WeChatSettings
from tests.bot.chat import Chat, new_openid
from tests.bot.wechat_client import PATH, WeChatSender, aes_encrypt, sha1_sign, text_xml

pytestmark = pytest.mark.slow

EXAMPLES = 40
SECONDS_PER_REQUEST = 2.0
ALLOWED = {200, 400, 403, 413}

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml ['
    '<!ENTITY a "'
    + "a" * 100
    + '">'
    + "".join(f'<!ENTITY {b} "{("&" + a + ";") * 10}">' for a, b in zip("abcdefgh", "bcdefghi", strict=True))
    + "]><xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&i;</Content><MsgId>1</MsgId></xml>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">'
    '<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>'
    "<xml><ToUserName>gh</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>&e;</Content><MsgId>2</MsgId></xml>"
)
HOSTILE = [
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    "<xml " + " ".join(f'a{i}="{"x" * 20}"' for i in range(2000)) + "/>",  # many attributes
    '<xml a="' + "x" * 60_000 + '"/>',  # one huge attribute
    "<a>" * 15_000 + "</a>" * 15_000,  # deep nesting
    "<xml>" + "<Content>x</Content>" * 3000 + "</xml>",  # a repeated element becomes a list
    "<xml><MsgType><a>1</a></MsgType><FromUserName><b/></FromUserName></xml>",  # elements, not text
    "<xml><MsgType>text</MsgType><CreateTime>-99999999999999999999</CreateTime></xml>",
    "<?xml version='1.0' encoding='utf-32'?><xml/>",
]


def sender_for(chat: Chat) -> WeChatSender:
    return chat.sender()


async def post(chat: Chat, params: dict[str, str], body: bytes) -> httpx.Response:
    started = time.monotonic()
    response = await asyncio.wait_for(
        chat.backend.client.post(PATH, params=params, content=body), SECONDS_PER_REQUEST * 5
    )
    elapsed = time.monotonic() - started
    assert response.status_code in ALLOWED, (response.status_code, body[:200], response.text[:200])
    assert elapsed < SECONDS_PER_REQUEST, (elapsed, body[:200])
    assert "root:" not in response.text and "Traceback" not in response.text
    return response


def plain_query(token: str) -> dict[str, str]:
    ts, nonce = str(int(time.time())), uuid.uuid4().hex[:12]
    return {"signature": sha1_sign(token, ts, nonce), "timestamp": ts, "nonce": nonce}


def encrypted(chat: Chat, xml: bytes) -> tuple[dict[str, str], bytes]:
    """``xml`` as WeChat would push it in safe mode: encrypted, with a valid msg_signature."""
    wechat = WeChatSettings.of(chat.backend.settings)
    query = plain_query(wechat.token)
    encrypt = aes_encrypt(wechat.aes_key, wechat.app_id, xml.decode("utf-8", "replace"))
    query |= {
        "encrypt_type": "aes",
        "msg_signature": sha1_sign(wechat.token, query["timestamp"], query["nonce"], encrypt),
    }
    return query, f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()


async def every_way(chat: Chat, body: bytes) -> None:
    """Post ``body`` as a plaintext push (no AES key), as a safe-mode envelope, and encrypted."""
    wechat = WeChatSettings.of(chat.backend.settings)
    aes_key, wechat.aes_key = wechat.aes_key, ""
    try:
        await post(chat, plain_query(wechat.token), body)
    finally:
        wechat.aes_key = aes_key
    await post(chat, plain_query(wechat.token) | {"encrypt_type": "aes", "msg_signature": "0" * 40}, body)
    if len(body) < 40_000:  # base64 makes it a third bigger: keep the envelope under the limit
        await post(chat, *encrypted(chat, body))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=st.binary(max_size=4096))
async def test_random_bytes_are_refused_quietly(chat: Chat, body: bytes) -> None:
    await every_way(chat, body)


@FUZZ
@given(cut=st.floats(min_value=0, max_value=1, exclude_max=True), content=st.text(max_size=200))
async def test_truncated_pushes_are_refused_quietly(chat: Chat, cut: float, content: str) -> None:
    xml = text_xml(new_openid(), content.replace("]]>", ""), 1, int(time.time())).encode()
    await every_way(chat, xml[: int(len(xml) * cut)])
    query, envelope = encrypted(chat, xml)
    await post(chat, query, envelope[: int(len(envelope) * cut)])


@pytest.mark.parametrize("xml", HOSTILE, ids=lambda x: x[:24])
async def test_hostile_xml_is_refused_in_bounded_time_and_memory(chat: Chat, xml: str) -> None:
    before = peak_rss_mb()
    await every_way(chat, xml.encode())
    assert peak_rss_mb() - before < 200, "an XML body made the process grow"
