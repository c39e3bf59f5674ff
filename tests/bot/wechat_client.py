"""Posting to the webhook exactly as WeChat does, built independently of the bot's own code.

Signatures: sha1 over the sorted [token, timestamp, nonce] (``signature``) and, in safe mode,
[token, timestamp, nonce, Encrypt] (``msg_signature``). AES: AES-256-CBC, key =
base64decode(EncodingAESKey + "="), IV = the key's first 16 bytes, plaintext = random(16) +
len(msg) (4 bytes, big-endian) + msg + appid, PKCS#7-padded to 32-byte blocks, base64.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import struct
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PATH = "/wechat/official-account"
_msgids = itertools.count(int(time.time() * 1000) % 10**12)


def sha1_sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def aes_encrypt(aes_key: str, app_id: str, message: str) -> str:
    key = base64.b64decode(aes_key + "=")
    raw = message.encode()
    plain = os.urandom(16) + struct.pack(">I", len(raw)) + raw + app_id.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def aes_decrypt(aes_key: str, app_id: str, encrypted: str) -> str:
    key = base64.b64decode(aes_key + "=")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(base64.b64decode(encrypted)) + decryptor.finalize()
    plain = plain[: -plain[-1]]
    (length,) = struct.unpack(">I", plain[16:20])
    message, tail = plain[20 : 20 + length], plain[20 + length :]
    assert tail.decode() == app_id, "reply encrypted for another app"
    return message.decode()


def text_xml(openid: str, content: str, msgid: int, create_time: int) -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_yixiang_test]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{create_time}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msgid}</MsgId></xml>"
    )


def event_xml(openid: str, event: str, create_time: int, key: str = "") -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_yixiang_test]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{create_time}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>"
        f"<EventKey><![CDATA[{key}]]></EventKey></xml>"
    )


@dataclass
class Replied:
    status: int
    body: str
    content: str = ""  # the text of the reply (decrypted), "" for "success"
    msg_type: str = ""
    to_user: str = ""
    url: str = ""


@dataclass
class WeChatSender:
    client: httpx.AsyncClient
    token: str
    aes_key: str
    app_id: str
    mode: str = "aes"  # aes | compat | plain
    now: float | None = None  # override the clock (replays)
    sent: list[str] = field(default_factory=list)

    def next_msgid(self) -> int:
        return next(_msgids)

    def signed(
        self,
        xml: str,
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
        signature: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The query string and body WeChat would post for ``xml`` in this sender's mode."""
        ts = str(timestamp if timestamp is not None else int(self.now or time.time()))
        nonce = nonce or os.urandom(6).hex()
        params = {"signature": signature or sha1_sign(self.token, ts, nonce), "timestamp": ts, "nonce": nonce}
        body = xml
        if self.mode in ("aes", "compat"):
            encrypt = aes_encrypt(self.aes_key, self.app_id, xml)
            params |= {"encrypt_type": "aes", "msg_signature": sha1_sign(self.token, ts, nonce, encrypt)}
            if self.mode == "aes":
                body = (
                    "<xml><ToUserName><![CDATA[gh_yixiang_test]]></ToUserName>"
                    f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
                )
            else:  # compatible mode: the plaintext message with the Encrypt element added
                body = xml.replace("</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
        return params, body.encode()

    async def post_xml(
        self, xml: str, *, timestamp: int | None = None, signature: str | None = None
    ) -> httpx.Response:
        params, body = self.signed(xml, timestamp=timestamp, signature=signature)
        self.sent.append(xml)
        return await self.client.post(PATH, params=params, content=body)

    def read(self, response: httpx.Response) -> Replied:
        body = response.text
        if response.status_code != 200 or body in ("", "success"):
            return Replied(response.status_code, body)
        root = ET.fromstring(body)
        encrypt = root.findtext("Encrypt")
        if encrypt is not None:
            assert self.mode in ("aes", "compat"), "an encrypted reply to a plaintext push"
            expected = sha1_sign(
                self.token, root.findtext("TimeStamp") or "", root.findtext("Nonce") or "", encrypt
            )
            assert root.findtext("MsgSignature") == expected, "reply signature does not verify"
            root = ET.fromstring(aes_decrypt(self.aes_key, self.app_id, encrypt))
        else:
            assert self.mode == "plain", "a plaintext reply to an encrypted push"
        msg_type = root.findtext("MsgType") or ""
        content = root.findtext("Content") or ""
        url = ""
        if msg_type == "news":
            content = root.findtext("Articles/item/Description") or ""
            url = root.findtext("Articles/item/Url") or ""
        return Replied(200, body, content, msg_type, root.findtext("ToUserName") or "", url)

    async def text(
        self, openid: str, content: str, *, msgid: int | None = None, create_time: int | None = None
    ) -> Replied:
        created = create_time or int(self.now or time.time())
        response = await self.post_xml(text_xml(openid, content, msgid or self.next_msgid(), created))
        return self.read(response)

    async def event(self, openid: str, event: str, key: str = "", create_time: int | None = None) -> Replied:
        created = create_time or int(self.now or time.time())
        return self.read(await self.post_xml(event_xml(openid, event, created, key)))
