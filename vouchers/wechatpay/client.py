"""An async client of the WeChat Pay APIv3 endpoints the platform uses, for a direct merchant or
a service provider (服务商) acting for a sub-merchant (``sub_mchid``): prepay (JSAPI, Native),
query and close an order, refund and query a refund, download the day's trade bill.

Every answer but the bill file is checked against the platform's signature before it is read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode, urlsplit

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric import rsa

from vouchers.settings import WeChatPaySettings
from vouchers.wechatpay.messages import ErrorAnswer, Refund, Transaction
from vouchers.wechatpay.signing import (
    SignatureError,
    SignedHeaders,
    authorization,
    load_private_key,
    load_public_key,
    verify_signed,
)

T = TypeVar("T")
PrepayKind = Literal["jsapi", "native"]


class WeChatPayError(Exception):
    """WeChat Pay answered with an error (``code`` is theirs, e.g. ORDERPAID, NOT_ENOUGH)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class WeChatPayUnavailable(Exception):
    """No trustworthy answer: the network failed, or the answer's signature did not check out."""


@dataclass(frozen=True)
class MerchantKeys:
    mchid: str  # the direct merchant, or the service provider (sp_mchid)
    serial_no: str  # of the merchant's API certificate
    private_key: rsa.RSAPrivateKey
    apiv3_key: bytes
    platform_keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)  # serial/id -> key


@dataclass(frozen=True)
class PrepayOrder:
    appid: str
    out_trade_no: str
    description: str
    total_fen: int
    notify_url: str
    expires_at: datetime
    sub_mchid: str | None = None  # a service provider's order for this sub-merchant
    openid: str | None = None  # the payer (JSAPI only)
    attach: str = ""


class WeChatPayClient:
    def __init__(self, keys: MerchantKeys, base_url: str, *, timeout: float = 10.0) -> None:
        self.keys = keys
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- orders ----------------------------------------------------------------------------------
    async def prepay(self, kind: PrepayKind, order: PrepayOrder) -> str:
        """Place the order; the JSAPI ``prepay_id`` or the Native ``code_url`` (for a QR code)."""
        body: dict[str, Any] = {
            "description": order.description[:127],
            "out_trade_no": order.out_trade_no,
            "time_expire": order.expires_at.isoformat(timespec="seconds"),
            "notify_url": order.notify_url,
            "amount": {"total": order.total_fen, "currency": "CNY"},
        }
        if order.attach:
            body["attach"] = order.attach
        if order.sub_mchid:
            path = f"/v3/pay/partner/transactions/{kind}"
            body |= {"sp_appid": order.appid, "sp_mchid": self.keys.mchid, "sub_mchid": order.sub_mchid}
            if kind == "jsapi":
                body["payer"] = {"sp_openid": order.openid}
        else:
            path = f"/v3/pay/transactions/{kind}"
            body |= {"appid": order.appid, "mchid": self.keys.mchid}
            if kind == "jsapi":
                body["payer"] = {"openid": order.openid}
        answer = await self._call("POST", path, body)
        return str(answer["prepay_id"] if kind == "jsapi" else answer["code_url"])

    async def query(self, out_trade_no: str, sub_mchid: str | None = None) -> Transaction:
        if sub_mchid:
            path = f"/v3/pay/partner/transactions/out-trade-no/{out_trade_no}"
            query = {"sp_mchid": self.keys.mchid, "sub_mchid": sub_mchid}
        else:
            path, query = f"/v3/pay/transactions/out-trade-no/{out_trade_no}", {"mchid": self.keys.mchid}
        return msgspec.convert(await self._call("GET", path, query=query), Transaction)

    async def close(self, out_trade_no: str, sub_mchid: str | None = None) -> None:
        if sub_mchid:
            path = f"/v3/pay/partner/transactions/out-trade-no/{out_trade_no}/close"
            body = {"sp_mchid": self.keys.mchid, "sub_mchid": sub_mchid}
        else:
            path, body = f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close", {"mchid": self.keys.mchid}
        await self._call("POST", path, body)

    # --- refunds ---------------------------------------------------------------------------------
    async def refund(
        self,
        *,
        out_trade_no: str,
        out_refund_no: str,
        refund_fen: int,
        total_fen: int,
        reason: str,
        notify_url: str,
        sub_mchid: str | None = None,
    ) -> Refund:
        body: dict[str, Any] = {
            "out_trade_no": out_trade_no,
            "out_refund_no": out_refund_no,
            "reason": reason[:80],
            "notify_url": notify_url,
            "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"},
        }
        if sub_mchid:
            body["sub_mchid"] = sub_mchid
        return msgspec.convert(await self._call("POST", "/v3/refund/domestic/refunds", body), Refund)

    async def query_refund(self, out_refund_no: str, sub_mchid: str | None = None) -> Refund:
        query = {"sub_mchid": sub_mchid} if sub_mchid else None
        answer = await self._call("GET", f"/v3/refund/domestic/refunds/{out_refund_no}", query=query)
        return msgspec.convert(answer, Refund)

    # --- the day's bill --------------------------------------------------------------------------
    async def trade_bill(self, day: date, sub_mchid: str | None = None) -> str:
        """The trade bill of one day (Asia/Shanghai) as WeChat Pay's CSV text, its hash checked."""
        query = {"bill_date": day.isoformat(), "bill_type": "ALL"}
        if sub_mchid:
            query["sub_mchid"] = sub_mchid
        answer = await self._call("GET", "/v3/bill/tradebill", query=query)
        url = urlsplit(str(answer["download_url"]))
        # The file is not signed (WeChat Pay says so); its hash, from the signed answer, is.
        response = await self._send("GET", url.path + (f"?{url.query}" if url.query else ""), "")
        if response.status_code != 200:
            raise _error(response)
        if str(answer.get("hash_type", "SHA1")).upper() != "SHA1":
            raise WeChatPayUnavailable(f"unknown bill hash type {answer.get('hash_type')}")
        if hashlib.sha1(response.content).hexdigest() != str(answer["hash_value"]).lower():
            raise WeChatPayUnavailable("the bill's hash does not match")
        return response.content.decode("utf-8-sig")

    # --- transport -------------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        target = path + (f"?{urlencode(query)}" if query else "")
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body is not None else ""
        response = await self._send(method, target, text)
        if response.status_code >= 300:
            raise _error(response)
        try:
            verify_signed(
                SignedHeaders.of(dict(response.headers)), response.text, keys=self.keys.platform_keys
            )
        except SignatureError as exc:
            raise WeChatPayUnavailable(f"answer not trusted: {exc.reason}") from None
        if response.status_code == 204 or not response.content:
            return {}
        answer: dict[str, Any] = response.json()
        return answer

    async def _send(self, method: str, target: str, body: str) -> httpx.Response:
        header = authorization(
            mchid=self.keys.mchid,
            serial_no=self.keys.serial_no,
            key=self.keys.private_key,
            method=method,
            path_and_query=target,
            body=body,
        )
        headers = {"Authorization": header, "Accept": "application/json"}
        if body:
            headers["Content-Type"] = "application/json"
        try:
            return await self._http.request(method, target, content=body.encode() or None, headers=headers)
        except httpx.HTTPError as exc:
            raise WeChatPayUnavailable(f"{type(exc).__name__}: {exc}") from None


def _error(response: httpx.Response) -> WeChatPayError:
    try:
        answer = msgspec.json.decode(response.content, type=ErrorAnswer)
    except msgspec.DecodeError:
        answer = ErrorAnswer(code="", message=response.text[:200])
    return WeChatPayError(response.status_code, answer.code, answer.message)


def load_merchant_keys(settings: WeChatPaySettings) -> MerchantKeys:
    """The merchant's keys from their files (checked at start-up by the settings' problems)."""
    return MerchantKeys(
        mchid=settings.mchid,
        serial_no=settings.merchant_serial_no,
        private_key=load_private_key(Path(settings.private_key_file).read_bytes()),
        apiv3_key=Path(settings.apiv3_key_file).read_text().strip().encode(),
        platform_keys={
            settings.platform_public_key_id: load_public_key(
                Path(settings.platform_public_key_file).read_bytes()
            )
        },
    )
