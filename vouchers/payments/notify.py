"""WeChat Pay's notification callback (the order's ``notify_url``).

Checked before anything else: WeChat Pay's signature with its public key, the timestamp within
five minutes, and the nonce never seen with another body; then the AES-GCM resource is opened.
A notification that fails a check gets 401 and ``{"code": "FAIL"}`` (WeChat Pay's own would be
retried, so nothing is lost when our clock or key is wrong); one we applied, or had applied
before, gets 204 with no body, as the protocol asks. Handlers are by event type: a payment here,
refunds in ``vouchers.payments.refunds``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response, post
from litestar.exceptions import HTTPException
from sqlalchemy.ext.asyncio import AsyncSession

from vouchers.errors import PaymentOrderNotFound
from vouchers.models import PaymentNotification
from vouchers.payments.apply import PaymentMismatch, apply_transaction
from vouchers.payments.gateway import WECHAT_PAY
from vouchers.wechatpay.notifications import Notification, open_notification
from vouchers.wechatpay.signing import TIMESTAMP_WINDOW_SECONDS, SignatureError
from yixiang.db import insert_ignoring_conflict, transaction
from yixiang.nonces import nonce_fits_body

log = logging.getLogger("vouchers.payments")

PATH = "/api/v1/wechatpay/notifications"
MAX_BODY_BYTES = 64 * 1024  # a notification is about 1 KB

Handler = Callable[[AsyncSession, Notification], Awaitable[bool]]


async def _payment(session: AsyncSession, notification: Notification) -> bool:
    assert notification.transaction is not None
    return await apply_transaction(session, notification.transaction)


# event_type -> what applies it; an event type not listed is acknowledged and ignored.
HANDLERS: dict[str, Handler] = {"TRANSACTION.SUCCESS": _payment}


def _fail(message: str, status: int) -> Response[Any]:
    return Response({"code": "FAIL", "message": message}, status_code=status)


def _reference(notification: Notification) -> str:
    if notification.transaction is not None:
        return notification.transaction.out_trade_no
    return notification.refund.out_refund_no if notification.refund is not None else ""


@post(PATH, include_in_schema=False, status_code=200, request_max_body_size=MAX_BODY_BYTES)
async def receive_notification(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[Any]:
    pay = request.app.state.services.get(WECHAT_PAY)
    if pay is None:
        return _fail("微信支付未开通", 404)
    try:
        body = await request.body()
    except HTTPException:
        return _fail("通知过大", 413)
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        notification = open_notification(
            headers, body, platform_keys=pay.client.keys.platform_keys, apiv3_key=pay.client.keys.apiv3_key
        )
    except SignatureError as exc:
        log.warning("WeChat Pay notification refused: %s", exc.reason)
        return _fail(f"验签失败：{exc.reason}", 401)
    fits = await nonce_fits_body(
        request.app.state.store,
        "wechatpay",
        headers.get("wechatpay-timestamp", ""),
        headers.get("wechatpay-nonce", ""),
        body,
        2 * TIMESTAMP_WINDOW_SECONDS,
    )
    if not fits:
        log.warning("WeChat Pay notification refused: nonce reused with another body")
        return _fail("验签失败：nonce 重复", 401)
    handler = HANDLERS.get(notification.event_type)
    try:
        async with transaction(db_session):
            applied = await handler(db_session, notification) if handler is not None else False
            await insert_ignoring_conflict(
                db_session,
                PaymentNotification,
                {
                    "id": notification.id[:64],
                    "event_type": notification.event_type[:40],
                    "reference": _reference(notification)[:64],
                    "applied": applied,
                },
                ["id"],
            )
    except PaymentOrderNotFound:
        log.error("WeChat Pay notification %s names an order we never placed", notification.id)
        return _fail("订单不存在", 404)
    except PaymentMismatch:
        return _fail("订单金额或商户与记录不符", 409)
    return Response(None, status_code=204)
