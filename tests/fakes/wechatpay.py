"""A local fake of WeChat Pay APIv3: real HTTP on loopback, in a thread, with the protocol's real
cryptography — it checks our requests' RSA signatures with the merchant's public key, signs its
answers and notifications with a platform key, and encrypts notification resources with the
APIv3 key (AES-256-GCM).

Endpoints: JSAPI and Native prepay (direct merchant and service provider), query and close by
``out_trade_no``, refunds and their query, the trade bill and its download. The test plays the
payer and WeChat Pay's notifier: :meth:`FakeWeChatPay.pay` completes an order as if the payer
confirmed it in WeChat, and :meth:`payment_notification` / :meth:`refund_notification` build the
signed, encrypted notification WeChat Pay would post (optionally with a bad signature or an old
timestamp).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from vouchers.wechatpay.signing import (
    TIMESTAMP_WINDOW_SECONDS,
    SignatureError,
    encrypt_resource,
    nonce,
    parse_authorization,
    rsa_sign,
    rsa_verify,
)
from yixiang.clock import SHANGHAI

PLATFORM_KEY_ID = "PUB_KEY_ID_0119000000012026120100000000000001"


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_private(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_public(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class Order:
    out_trade_no: str
    appid: str
    mchid: str
    sub_mchid: str
    trade_type: str  # JSAPI / NATIVE
    total: int
    description: str
    notify_url: str
    time_expire: str
    openid: str
    attach: str
    state: str = "NOTPAY"
    transaction_id: str = ""
    success_time: str = ""
    prepay: str = ""
    refunded: int = 0


@dataclass
class RefundRecord:
    out_refund_no: str
    out_trade_no: str
    refund_id: str
    amount: int
    total: int
    status: str
    created: str
    success_time: str = ""


@dataclass
class Call:
    method: str
    path: str
    body: dict[str, Any] | None
    status: int


def _now_text() -> str:
    return datetime.now(SHANGHAI).isoformat(timespec="seconds")


@dataclass
class FakeWeChatPay:
    mchid: str
    merchant_public_key: rsa.RSAPublicKey
    apiv3_key: bytes = field(default_factory=lambda: secrets.token_hex(16).encode())
    platform_key: rsa.RSAPrivateKey = field(default_factory=new_rsa_key)
    platform_key_id: str = PLATFORM_KEY_ID
    refunds_settle_immediately: bool = False
    tamper_bills: bool = False  # serve bill files that do not match their announced hash
    orders: dict[str, Order] = field(default_factory=dict)
    refunds: dict[str, RefundRecord] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._bills: dict[str, bytes] = {}
        self._server: ThreadingHTTPServer | None = None
        self.base_url = ""

    # --- control ---------------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def _dispatch(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, answer, signed = fake.handle(method, self.path, dict(self.headers), raw)
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if signed else "text/plain")
                self.send_header("Request-ID", secrets.token_hex(8))
                if signed:
                    for name, value in fake.signature_headers(answer).items():
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.base_url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def platform_public_pem(self) -> bytes:
        return pem_public(self.platform_key.public_key())

    def pay(self, out_trade_no: str, *, openid: str = "o-payer") -> dict[str, Any]:
        """The payer confirms the order in WeChat: it becomes SUCCESS (once)."""
        with self._lock:
            order = self.orders[out_trade_no]
            if order.state == "NOTPAY":
                order.state = "SUCCESS"
                order.transaction_id = (
                    f"4200{next(self._ids):04d}{secrets.randbelow(10**20):020d}"  # unique, as WeChat's
                )
                order.success_time = _now_text()
                order.openid = order.openid or openid
            return self._transaction(order)

    def finish_refund(self, out_refund_no: str, status: str = "SUCCESS") -> None:
        with self._lock:
            refund = self.refunds[out_refund_no]
            refund.status = status
            refund.success_time = _now_text() if status == "SUCCESS" else ""

    # --- notifications WeChat Pay would post ----------------------------------------------------
    def payment_notification(self, out_trade_no: str, **how: Any) -> tuple[dict[str, str], bytes]:
        resource = self._transaction(self.orders[out_trade_no])
        return self.notification("TRANSACTION.SUCCESS", "transaction", resource, summary="支付成功", **how)

    def refund_notification(self, out_refund_no: str, **how: Any) -> tuple[dict[str, str], bytes]:
        refund = self.refunds[out_refund_no]
        order = self.orders[refund.out_trade_no]
        resource = {
            "mchid": order.mchid,
            "sp_mchid": order.mchid if order.sub_mchid else "",
            "sub_mchid": order.sub_mchid,
            "out_trade_no": order.out_trade_no,
            "transaction_id": order.transaction_id,
            "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": refund.status,
            "success_time": refund.success_time,
            "amount": {
                "total": refund.total,
                "refund": refund.amount,
                "payer_total": refund.total,
                "payer_refund": refund.amount,
            },
        }
        event = {"SUCCESS": "REFUND.SUCCESS", "CLOSED": "REFUND.CLOSED"}.get(refund.status, "REFUND.ABNORMAL")
        return self.notification(event, "refund", resource, summary="退款成功", **how)

    def notification(
        self,
        event_type: str,
        original_type: str,
        resource: dict[str, Any],
        *,
        summary: str = "",
        timestamp: int | None = None,
        bad_signature: bool = False,
    ) -> tuple[dict[str, str], bytes]:
        resource_nonce = secrets.token_hex(6)
        envelope = {
            "id": f"EV-{secrets.token_hex(10)}",
            "create_time": _now_text(),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": encrypt_resource(
                    self.apiv3_key,
                    nonce=resource_nonce,
                    plaintext=json.dumps(resource, ensure_ascii=False).encode(),
                    associated_data=original_type,
                ),
                "associated_data": original_type,
                "nonce": resource_nonce,
            },
        }
        body = json.dumps(envelope, ensure_ascii=False).encode()
        headers = self.signature_headers(body, timestamp=timestamp)
        if bad_signature:
            other = new_rsa_key()
            headers["Wechatpay-Signature"] = rsa_sign(
                other, f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n{body.decode()}\n"
            )
        return headers | {"Content-Type": "application/json"}, body

    def signature_headers(self, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce_str = nonce()
        return {
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce_str,
            "Wechatpay-Serial": self.platform_key_id,
            "Wechatpay-Signature": rsa_sign(self.platform_key, f"{ts}\n{nonce_str}\n{body.decode()}\n"),
        }

    # --- the API ---------------------------------------------------------------------------------
    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, bytes, bool]:
        body = json.loads(raw) if raw else None
        status, answer, signed = self._route(method, target, headers, raw, body)
        self.calls.append(Call(method, urlsplit(target).path, body, status))
        if isinstance(answer, bytes):
            return status, answer, signed
        return (
            status,
            (json.dumps(answer, ensure_ascii=False).encode() if answer is not None else b""),
            signed,
        )

    def _route(
        self, method: str, target: str, headers: dict[str, str], raw: bytes, body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any] | bytes | None, bool]:
        try:
            self._check_authorization(method, target, headers, raw)
        except SignatureError as exc:
            return 401, {"code": "SIGN_ERROR", "message": f"签名错误: {exc.reason}"}, True
        parts = urlsplit(target)
        path, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            for prefix, kind in (("/v3/pay/transactions/", ""), ("/v3/pay/partner/transactions/", "partner")):
                if method == "POST" and path in (prefix + "jsapi", prefix + "native") and body is not None:
                    return self._prepay(path.rsplit("/", 1)[1].upper(), body, partner=bool(kind))
                if path.startswith(prefix + "out-trade-no/"):
                    rest = path.removeprefix(prefix + "out-trade-no/")
                    if method == "GET":
                        return self._query(rest, query)
                    if method == "POST" and rest.endswith("/close"):
                        return self._close(rest.removesuffix("/close"))
            if method == "POST" and path == "/v3/refund/domestic/refunds" and body is not None:
                return self._refund(body)
            if method == "GET" and path.startswith("/v3/refund/domestic/refunds/"):
                refund = self.refunds.get(path.rsplit("/", 1)[1])
                if refund is None:
                    return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"}, True
                return 200, self._refund_answer(refund), True
            if method == "GET" and path == "/v3/bill/tradebill":
                return self._trade_bill(date.fromisoformat(query["bill_date"]), query.get("sub_mchid", ""))
            if method == "GET" and path == "/v3/billdownload/file":
                data = self._bills.get(query.get("token", ""))
                return (200, data, False) if data is not None else (404, {"code": "NO_STATEMENT_EXIST"}, True)
        return 404, {"code": "NOT_FOUND", "message": f"no such endpoint {method} {path}"}, True

    def _check_authorization(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        fields = parse_authorization(lowered.get("authorization", ""))
        if fields.get("mchid") != self.mchid:
            raise SignatureError("unknown mchid")
        if abs(time.time() - int(fields.get("timestamp", "0"))) > TIMESTAMP_WINDOW_SECONDS:
            raise SignatureError("timestamp outside the window")
        message = f"{method}\n{target}\n{fields['timestamp']}\n{fields['nonce_str']}\n{raw.decode()}\n"
        if not rsa_verify(self.merchant_public_key, message, fields.get("signature", "")):
            raise SignatureError("bad signature")

    def _prepay(
        self, trade_type: str, body: dict[str, Any], *, partner: bool
    ) -> tuple[int, dict[str, Any], bool]:
        out_trade_no, total = body["out_trade_no"], int(body["amount"]["total"])
        mchid = body["sp_mchid"] if partner else body["mchid"]
        if mchid != self.mchid or total <= 0:
            return 400, {"code": "PARAM_ERROR", "message": "参数错误"}, True
        existing = self.orders.get(out_trade_no)
        if existing is not None:
            if existing.state == "SUCCESS":
                return 400, {"code": "ORDERPAID", "message": "该订单已支付"}, True
            if existing.state == "CLOSED":
                return 400, {"code": "ORDER_CLOSED", "message": "该订单已关闭"}, True
            if existing.total != total or existing.trade_type != trade_type:
                return 400, {"code": "INVALID_REQUEST", "message": "201 商户订单号重复"}, True
            order = existing
        else:
            payer = body.get("payer") or {}
            order = Order(
                out_trade_no=out_trade_no,
                appid=body["sp_appid"] if partner else body["appid"],
                mchid=mchid,
                sub_mchid=body.get("sub_mchid", ""),
                trade_type=trade_type,
                total=total,
                description=body["description"],
                notify_url=body["notify_url"],
                time_expire=body.get("time_expire", ""),
                openid=payer.get("sp_openid") or payer.get("openid") or "",
                attach=body.get("attach", ""),
            )
            order.prepay = (
                f"wx{next(self._ids):030d}"
                if trade_type == "JSAPI"
                else f"weixin://wxpay/bizpayurl?pr={secrets.token_urlsafe(6)}"
            )
            self.orders[out_trade_no] = order
        key = "prepay_id" if trade_type == "JSAPI" else "code_url"
        return 200, {key: order.prepay}, True

    def _query(self, out_trade_no: str, query: dict[str, str]) -> tuple[int, dict[str, Any], bool]:
        order = self.orders.get(out_trade_no)
        if order is None or (query.get("mchid") or query.get("sp_mchid")) != self.mchid:
            return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}, True
        return 200, self._transaction(order), True

    def _close(self, out_trade_no: str) -> tuple[int, dict[str, Any] | None, bool]:
        order = self.orders.get(out_trade_no)
        if order is None:
            return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}, True
        if order.state in ("SUCCESS", "REFUND"):
            return 400, {"code": "ORDERPAID", "message": "该订单已支付"}, True
        order.state = "CLOSED"
        return 204, None, True

    def _refund(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], bool]:
        order = self.orders.get(body.get("out_trade_no", ""))
        if order is None or order.state not in ("SUCCESS", "REFUND"):
            return 400, {"code": "INVALID_REQUEST", "message": "订单未支付，不能退款"}, True
        existing = self.refunds.get(body["out_refund_no"])
        if existing is not None:  # the same out_refund_no again: the same refund
            return 200, self._refund_answer(existing), True
        amount = int(body["amount"]["refund"])
        if int(body["amount"]["total"]) != order.total:
            return 400, {"code": "PARAM_ERROR", "message": "订单金额与原订单不符"}, True
        if amount <= 0 or amount > order.total - order.refunded:
            return 400, {"code": "INVALID_REQUEST", "message": "申请退款金额超过订单可退金额"}, True
        order.refunded += amount
        order.state = "REFUND"
        refund = RefundRecord(
            out_refund_no=body["out_refund_no"],
            out_trade_no=order.out_trade_no,
            refund_id=f"5030{next(self._ids):04d}{secrets.randbelow(10**22):022d}",
            amount=amount,
            total=order.total,
            status="SUCCESS" if self.refunds_settle_immediately else "PROCESSING",
            created=_now_text(),
            success_time=_now_text() if self.refunds_settle_immediately else "",
        )
        self.refunds[refund.out_refund_no] = refund
        return 200, self._refund_answer(refund), True

    def _refund_answer(self, refund: RefundRecord) -> dict[str, Any]:
        return {
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "transaction_id": self.orders[refund.out_trade_no].transaction_id,
            "out_trade_no": refund.out_trade_no,
            "channel": "ORIGINAL",
            "status": refund.status,
            "create_time": refund.created,
            "success_time": refund.success_time,
            "amount": {"total": refund.total, "refund": refund.amount, "currency": "CNY"},
        }

    def _transaction(self, order: Order) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "out_trade_no": order.out_trade_no,
            "trade_state": order.state,
            "trade_state_desc": {
                "NOTPAY": "未支付",
                "SUCCESS": "支付成功",
                "CLOSED": "已关闭",
                "REFUND": "转入退款",
            }.get(order.state, ""),
            "trade_type": order.trade_type,
            "attach": order.attach,
            "amount": {"total": order.total, "currency": "CNY"},
        }
        if order.sub_mchid:
            answer |= {"sp_mchid": order.mchid, "sub_mchid": order.sub_mchid, "sp_appid": order.appid}
        else:
            answer |= {"mchid": order.mchid, "appid": order.appid}
        if order.transaction_id:
            answer |= {
                "transaction_id": order.transaction_id,
                "success_time": order.success_time,
                "payer": {"openid": order.openid},
                "amount": {"total": order.total, "payer_total": order.total, "currency": "CNY"},
            }
        return answer

    def _trade_bill(self, day: date, sub_mchid: str) -> tuple[int, dict[str, Any], bool]:
        text = self.trade_bill_text(day, sub_mchid)
        data = text.encode()
        token = secrets.token_urlsafe(12)
        self._bills[token] = data + b"`\n" if self.tamper_bills else data
        return (
            200,
            {
                "hash_type": "SHA1",
                "hash_value": hashlib.sha1(data).hexdigest(),
                "download_url": f"{self.base_url}/v3/billdownload/file?token={token}",
            },
            True,
        )

    def trade_bill_text(self, day: date, sub_mchid: str = "") -> str:
        """The day's ``ALL`` bill in WeChat Pay's CSV format (Asia/Shanghai day)."""
        header = (
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
            "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
            "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
        )
        rows, paid, refunded = [], 0, 0

        def row(at: str, order: Order, state: str, settled: int, refund: RefundRecord | None) -> str:
            cells = [
                at.replace("T", " ")[:19],
                order.appid,
                order.mchid,
                order.sub_mchid or "0",
                "",
                order.transaction_id,
                order.out_trade_no,
                order.openid,
                order.trade_type,
                state,
                "OTHERS",
                "CNY",
                f"{settled / 100:.2f}",
                "0.00",
                refund.refund_id if refund else "0",
                refund.out_refund_no if refund else "0",
                f"{refund.amount / 100:.2f}" if refund else "0.00",
                "0.00",
                "ORIGINAL" if refund else "",
                refund.status if refund else "",
                order.description,
                order.attach,
                "0.00000",
                "0.60%",
                f"{order.total / 100:.2f}",
                f"{refund.amount / 100:.2f}" if refund else "0.00",
                "",
            ]
            return ",".join("`" + cell for cell in cells)

        for order in self.orders.values():
            if sub_mchid and order.sub_mchid != sub_mchid:
                continue
            if order.success_time and datetime.fromisoformat(order.success_time).date() == day:
                rows.append(row(order.success_time, order, "SUCCESS", order.total, None))
                paid += order.total
        for refund in self.refunds.values():
            order = self.orders[refund.out_trade_no]
            if sub_mchid and order.sub_mchid != sub_mchid:
                continue
            if refund.success_time and datetime.fromisoformat(refund.success_time).date() == day:
                rows.append(row(refund.success_time, order, "REFUND", 0, refund))
                refunded += refund.amount
        totals = ",".join(
            "`" + c
            for c in [
                str(len(rows)),
                f"{paid / 100:.2f}",
                f"{refunded / 100:.2f}",
                "0.00",
                "0.00000",
                f"{paid / 100:.2f}",
                f"{refunded / 100:.2f}",
            ]
        )
        return (
            "\n".join(
                [
                    header,
                    *rows,
                    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
                    totals,
                ]
            )
            + "\n"
        )
