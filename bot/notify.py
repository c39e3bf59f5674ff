"""Notifications: outbox consumers that tell researchers on WeChat what happened to their bookings.

Two channels, each its own consumer (so one failing never re-sends the other):
- template messages on the official account, to the follower bound to the user;
- subscribe messages in the mini-program, to ``User.wechat_openid`` (the user must have accepted
  that template in the mini-program; WeChat answers 43101 otherwise, which we record and skip).

At most once per event and channel. WeChat takes no idempotency key for these APIs, so a send
whose answer we never recorded cannot be told apart from one that never arrived. Each send is
therefore recorded in ``SentNotification`` and *committed* as "sending" before WeChat is called,
then "sent" after (``_send_once``):
- WeChat answers an error a retry may fix (quota, token, busy), or the connection could not even
  be opened: "failed", and the worker retries the consumer, which sends again.
- WeChat answers that no retry can help (unfollowed, no subscription): "undeliverable".
- No answer (a read timeout), or the worker died in the call or before recording it: the message
  may or may not be on the user's phone. It is never sent again: a duplicate "预约已确认" or
  "创新券已抵扣" (was I charged twice?) misleads more than a missing one, and every notification
  is also in the mini-program and the H5 pages. Such a send ends "uncertain", with a warning in
  the log: at once when the consumer sees it, or — a worker that died after committing
  "sending" — at the next housekeeping run (``flag_interrupted_sends``).
Without real WeChat credentials (the embedded default's public demo ones) an app's messages go to
the local outbox instead (``bot/local_outbox.py``), through the same at-most-once bookkeeping.

What remains: a notification can be lost (the worker died after committing "sending" and before
the request left, or WeChat took it and timed out answering), never doubled.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import bindparam, select, update
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from accounts.consent import notifications_allowed
from accounts.models import User
from bot.bills import MINIPROGRAM_PAY_PAGE, bill_text, due_checkout, pay_link, pays_in_wechat
from bot.conversation.base import save_state, yuan
from bot.conversation.rate import prompt_for
from bot.dependencies import MINIPROGRAM, OFFICIAL_ACCOUNT
from bot.followers import bind_by_unionid
from bot.local_outbox import LocalOutbox
from bot.models import Follower, SendStatus, SentNotification
from bot.settings import NOTIFICATION_TOPICS, WeChatSettings
from bot.wechat import WeChatError, WeChatGateway
from vouchers.models import VoucherCheckout
from yixiang.clock import SHANGHAI
from yixiang.db import insert_ignoring_conflict, utcnow
from yixiang.domains import Consumer, JobContext, idle_when
from yixiang.housekeeping import HOUSEKEEPING_TOPIC
from yixiang.outbox import Event

log = logging.getLogger("bot.notify")

# WeChat answers that retrying cannot fix: unfollowed / invalid openid / no subscription accepted.
FINAL_ERRORS = {40003, 43004, 43101, 47003}

TITLES = {
    "booking.requested": "预约申请已提交",
    "booking.confirmed": "预约已确认",
    "booking.rejected": "预约未通过",
    "booking.reminder": "预约提醒",
    "booking.delivered": "检测结果已交付",
    "booking.rating_requested": "请为服务打分",
    "booking.completed": "服务已完成",
    "voucher.captured": "创新券已抵扣",
    "voucher.application_decided": "创新券申领有结果",
    "vouchers.refund_succeeded": "退款已原路退回",
    "voucher.invoice_issued": "发票已开具",
    "voucher.invoice_rejected": "发票申请未通过",
    "waitlist.offered": "候补时段已为您保留",
    "training.scheduled": "上机培训已安排",
    "training.decided": "上机培训有结果",
    "oversight.idle_notice": "仪器闲置提醒",
}


def _cut(text: Any, limit: int) -> str:
    value = str(text or "")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _time(payload: dict[str, Any]) -> str:
    """'11月25日 14:00-16:00' in Asia/Shanghai (WeChat's time keyword has no room for the weekday)."""
    if not payload.get("start"):
        return f"送样 {payload.get('samples') or ''} 个".strip()
    start = datetime.fromisoformat(payload["start"]).astimezone(SHANGHAI)
    text = f"{start.month}月{start.day}日 {start:%H:%M}"
    if payload.get("end"):
        text += f"-{datetime.fromisoformat(payload['end']).astimezone(SHANGHAI):%H:%M}"
    return text


def fields(topic: str, payload: dict[str, Any]) -> dict[str, str]:
    """Template keywords (WeChat's limits: thing ≤ 20 chars, character_string ≤ 32)."""
    if topic == "voucher.captured":
        return {
            "thing1": _cut(payload.get("program_name"), 20),
            "amount2": yuan(int(payload.get("amount_fen") or 0)),
            "amount3": yuan(int(payload.get("balance_fen") or 0)),
            "character_string4": _cut(payload.get("booking_code"), 32),
        }
    if topic == "voucher.application_decided":
        return {
            "thing1": _cut(payload.get("program_name"), 20),
            "phrase2": _cut(payload.get("status_text"), 5),
            "amount3": yuan(int(payload.get("amount_fen") or 0)) if payload.get("amount_fen") else "—",
            "thing4": _cut(payload.get("reason") or "—", 20),
        }
    if topic == "vouchers.refund_succeeded":
        return {
            "thing1": _cut(payload.get("cause_text"), 20),
            "amount2": yuan(int(payload.get("amount_fen") or 0)),
            "character_string3": _cut(payload.get("booking_code"), 32),
            "thing4": _cut(payload.get("reason") or "—", 20),
        }
    if topic == "voucher.invoice_issued":
        return {
            "thing1": _cut(payload.get("kind_label"), 20),
            "character_string2": _cut(payload.get("booking_code"), 32),
            "character_string3": _cut(payload.get("invoice_number"), 32),
            "amount4": yuan(int(payload.get("amount_fen") or 0)),
            "thing5": "可在预约结算单中下载",
        }
    if topic == "voucher.invoice_rejected":
        return {
            "thing1": _cut(payload.get("kind_label"), 20),
            "character_string2": _cut(payload.get("booking_code"), 32),
            "thing3": _cut(payload.get("reason") or "—", 20),
        }
    if topic == "waitlist.offered":
        deadline = datetime.fromisoformat(payload["offer_expires_at"]).astimezone(SHANGHAI)
        return {
            "thing1": _cut(payload.get("instrument_name"), 20),
            "time2": _cut(_time(payload), 20),
            "thing3": "候补到位，时段为您保留",
            "time4": f"{deadline.month}月{deadline.day}日 {deadline:%H:%M}前确认",
        }
    if topic == "oversight.idle_notice":
        since = datetime.fromisoformat(payload["idle_since"]).astimezone(SHANGHAI)
        return {
            "thing1": _cut(payload.get("instrument_name"), 20),
            "phrase2": _cut(payload.get("step_text"), 20),
            "time3": f"{since.year}年{since.month}月{since.day}日",
            "thing4": _cut(payload.get("summary"), 20),
        }
    if topic in ("training.scheduled", "training.decided"):
        return {
            "thing1": _cut(payload.get("instrument_name"), 20),
            "time2": _cut(_time(payload) if payload.get("start") else "—", 20),
            "thing3": _cut(payload.get("summary") or TITLES[topic], 20),
            "thing4": _cut(payload.get("address") or "—", 20),
        }
    data = {
        "thing1": _cut(payload.get("instrument_name"), 20),
        "character_string2": _cut(payload.get("booking_code"), 32),
        "time3": _cut(_time(payload), 20),
        "thing4": _cut(payload.get("summary") or TITLES[topic], 20),
    }
    if topic == "booking.confirmed" and payload.get("voucher_share_fen"):
        data["amount5"] = yuan(int(payload["voucher_share_fen"]))
    if topic == "booking.rejected":
        data["thing5"] = _cut(payload.get("reason") or "—", 20)
    if topic == "booking.reminder" and payload.get("address"):
        data["thing5"] = _cut(payload["address"], 20)
    if topic == "booking.rating_requested":
        data["thing5"] = "回复1-5打分"
    if topic == "booking.completed" and "due_fen" in payload:
        due = int(payload["due_fen"])
        data["thing4"] = f"待支付 {yuan(due)} 元" if due > 0 else "费用已结清"
        data["amount5"] = yuan(due)
    return data


def labels(topic: str) -> dict[str, str]:
    """What each keyword of ``fields`` means, as the template shows it to the reader."""
    if topic == "voucher.captured":
        return {"thing1": "创新券", "amount2": "本次抵扣", "amount3": "余额", "character_string4": "预约号"}
    if topic == "voucher.application_decided":
        return {"thing1": "创新券批次", "phrase2": "结果", "amount3": "批准金额", "thing4": "说明"}
    if topic == "vouchers.refund_succeeded":
        return {"thing1": "退款原因", "amount2": "退款金额", "character_string3": "预约号", "thing4": "说明"}
    if topic == "voucher.invoice_issued":
        return {
            "thing1": "票据类型",
            "character_string2": "预约号",
            "character_string3": "发票号码",
            "amount4": "金额",
            "thing5": "说明",
        }
    if topic == "voucher.invoice_rejected":
        return {"thing1": "票据类型", "character_string2": "预约号", "thing3": "原因"}
    if topic == "waitlist.offered":
        return {"thing1": "仪器", "time2": "时间", "thing3": "状态", "time4": "确认期限"}
    if topic == "oversight.idle_notice":
        return {"thing1": "仪器", "phrase2": "闲置", "time3": "闲置起算", "thing4": "处理"}
    if topic in ("training.scheduled", "training.decided"):
        return {"thing1": "仪器", "time2": "培训时间", "thing3": "结果", "thing4": "地点"}
    extra = {"booking.rejected": "原因", "booking.reminder": "地点", "booking.rating_requested": "评价"}
    return {
        "thing1": "仪器",
        "character_string2": "预约号",
        "time3": "时间",
        "thing4": "状态",
        "amount5": "待支付" if topic == "booking.completed" else "创新券抵扣",
        "thing5": extra.get(topic, "备注"),
    }


Sender = WeChatGateway | LocalOutbox


def _sender(
    ctx: JobContext, event: Event, gateway: WeChatGateway, user_id: uuid.UUID | None = None
) -> Sender:
    """Where this app's message goes: WeChat, or the local outbox (``bot/local_outbox.py``)."""
    if not WeChatSettings.of(ctx.settings).keeps_notifications_local(gateway.app_id):
        return gateway
    return LocalOutbox(
        ctx.session,
        topic=event.topic,
        user_id=user_id,
        title=TITLES.get(event.topic, ""),
        labels=labels(event.topic),
    )


def _wechat_data(values: dict[str, str]) -> dict[str, dict[str, str]]:
    return {key: {"value": value} for key, value in values.items()}


def _row(event: Event, channel: str) -> Any:
    return (SentNotification.event_id == event.id, SentNotification.channel == channel)


async def _begin_sending(
    ctx: JobContext, event: Event, channel: str, user_id: uuid.UUID | None, template_id: str
) -> bool:
    """Record the send as "sending"; False when this event's message on this channel is not to be
    sent (again). Runs of one consumer for one event never overlap: the worker's delivery mark
    serialises them."""
    values = {
        "event_id": event.id,
        "channel": channel,
        "topic": event.topic,
        "user_id": user_id,
        "template_id": template_id,
        "status": SendStatus.sending,
        "sent_at": utcnow(),
    }
    if await insert_ignoring_conflict(ctx.session, SentNotification, values, ["event_id", "channel"]):
        return True
    status = await ctx.session.scalar(select(SentNotification.status).where(*_row(event, channel)))
    if status == SendStatus.failed:
        await _set_status(ctx, event, channel, SendStatus.sending, sent_at=utcnow())
        return True
    if status == SendStatus.sending:
        # An earlier run committed "sending" and never recorded an answer: it was in the call,
        # or past it, when it failed. WeChat may have the message: not sent again.
        log.warning(
            "%s message of event %s (%s) may or may not have been delivered: not sent again",
            channel,
            event.id,
            event.topic,
        )
        await _set_status(ctx, event, channel, SendStatus.uncertain)
    return False


async def _set_status(ctx: JobContext, event: Event, channel: str, status: SendStatus, **values: Any) -> None:
    await ctx.session.execute(
        update(SentNotification).where(*_row(event, channel)).values(status=status, **values)
    )


def _never_left(exc: WeChatError) -> bool:
    """Whether WeChat surely did not take the message: it answered with an error code, or the
    connection was never opened. A read timeout or a dropped connection is not sure."""
    if exc.errcode is not None or exc.__cause__ is None:
        return True
    cause = exc.__cause__
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(cause.args[0], "reason", None) if cause.args else None
    return isinstance(cause, requests.exceptions.ConnectionError) and isinstance(
        reason, (NewConnectionError, ConnectTimeoutError)
    )


async def _send_once(
    ctx: JobContext,
    event: Event,
    channel: str,
    send: Callable[[], Awaitable[Any]],
    *,
    user_id: uuid.UUID | None = None,
    template_id: str = "",
    final_errors: frozenset[int] = frozenset(FINAL_ERRORS),
) -> bool:
    """Make this event's WeChat call on ``channel`` at most once; True when it was sent now."""
    if not await _begin_sending(ctx, event, channel, user_id, template_id):
        return False
    # Durable before the call (with the worker's delivery mark): a retry after a crash finds it.
    # No transaction is open during the call either, so SQLite's writers do not wait for WeChat.
    await ctx.session.commit()
    try:
        result = await send()
    except WeChatError as exc:
        if exc.errcode in final_errors:
            log.info("%s message of event %s not deliverable (%s)", channel, event.id, exc.errcode)
            await _set_status(ctx, event, channel, SendStatus.undeliverable)
            return False
        if _never_left(exc):
            await _set_status(ctx, event, channel, SendStatus.failed)
            await ctx.session.commit()  # outlives the rollback of this failed run
            raise  # the worker retries with backoff
        log.warning(
            "%s message of event %s (%s): no answer from WeChat (%s), it may or may not have "
            "been delivered: not sent again",
            channel,
            event.id,
            event.topic,
            exc.errmsg,
        )
        await _set_status(ctx, event, channel, SendStatus.uncertain)
        return False
    msgid = result.get("msgid") if isinstance(result, dict) else None
    await _set_status(
        ctx, event, channel, SendStatus.sent, **({"wechat_msgid": str(msgid)} if msgid is not None else {})
    )
    return True


async def flag_interrupted_sends(ctx: JobContext, event: Event) -> None:
    """Housekeeping: sends still "sending" long after any worker could be in the call (its lease
    would have run out) were cut short by a dying worker: "uncertain", and said in the log."""
    cutoff = utcnow() - timedelta(seconds=2 * ctx.settings.worker_lease_seconds)
    rows = (
        await ctx.session.execute(
            update(SentNotification)
            .where(SentNotification.status == SendStatus.sending, SentNotification.sent_at < cutoff)
            .values(status=SendStatus.uncertain)
            .returning(SentNotification.event_id, SentNotification.channel, SentNotification.topic)
        )
    ).all()
    for row in rows:
        log.warning(
            "%s message of event %s (%s) was interrupted by a dying worker: it may or may not "
            "have been delivered, not sent again",
            row.channel,
            row.event_id,
            row.topic,
        )


async def _with_voucher_share(ctx: JobContext, event: Event) -> dict[str, Any]:
    """Booking emits "confirmed" before vouchers hold their share (same transaction); by the time
    the message goes out the hold is committed, so the amount is read from vouchers' record."""
    payload = dict(event.payload)
    if event.topic == "booking.completed" and payload.get("booking_id"):
        checkout = await due_checkout(ctx.session, uuid.UUID(str(payload["booking_id"])))
        if checkout is not None:
            payload["due_fen"] = checkout.due_fen
    if (
        event.topic == "booking.confirmed"
        and "voucher_share_fen" not in payload
        and payload.get("booking_id")
    ):
        held = await ctx.session.scalar(
            select(VoucherCheckout.held_fen).where(
                VoucherCheckout.booking_id == uuid.UUID(str(payload["booking_id"]))
            )
        )
        payload["voucher_share_fen"] = int(held or 0)
    return payload


def _user_id(event: Event) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(event.payload["user_id"]))
    except (KeyError, ValueError):
        log.error("event %s (%s) has no valid user_id: not sent", event.id, event.topic)
        return None


async def _unbound(
    ctx: JobContext, events: Sequence[Event], templates: dict[str, str], bound_users: Any
) -> set[int]:
    """The events whose user cannot get this channel's message: no template for the topic, no
    valid user, or no WeChat binding (``bound_users`` selects the bound ones among ``p_users``)."""
    wanted = {event.id: _user_id(event) for event in events if templates.get(event.topic)}
    users = {user_id for user_id in wanted.values() if user_id is not None}
    bound = set((await ctx.session.scalars(bound_users, {"p_users": list(users)})).all()) if users else set()
    return {event.id for event in events if wanted.get(event.id) not in bound}


_SUBSCRIBED_FOLLOWERS = select(Follower.user_id).where(
    Follower.user_id.in_(bindparam("p_users", expanding=True)), Follower.subscribed.is_(True)
)
_MINIPROGRAM_USERS = select(User.id).where(
    User.id.in_(bindparam("p_users", expanding=True)), User.wechat_openid.is_not(None)
)


async def _without_follower(ctx: JobContext, events: Sequence[Event]) -> set[int]:
    return await _unbound(ctx, events, WeChatSettings.of(ctx.settings).template_ids, _SUBSCRIBED_FOLLOWERS)


async def _without_miniprogram(ctx: JobContext, events: Sequence[Event]) -> set[int]:
    return await _unbound(
        ctx, events, WeChatSettings.of(ctx.settings).subscribe_template_ids, _MINIPROGRAM_USERS
    )


@idle_when(_without_follower)
async def send_template_message(ctx: JobContext, event: Event) -> None:
    """Official-account template message to the user's bound follower."""
    user_id = _user_id(event)
    template_id = WeChatSettings.of(ctx.settings).template_ids.get(event.topic, "")
    if user_id is None or not template_id or not await notifications_allowed(ctx.session, user_id):
        return  # (consent withdrawn: PIPL)
    follower = await ctx.session.scalar(
        select(Follower).where(Follower.user_id == user_id, Follower.subscribed.is_(True))
    )
    if follower is None:
        return
    gateway = _sender(ctx, event, ctx.services[OFFICIAL_ACCOUNT], user_id)
    bill = await _bill(ctx, event)
    url = bill[2] if bill is not None and bill[1] and bill[2] else _link(ctx, event)
    data = _wechat_data(fields(event.topic, await _with_voucher_share(ctx, event)))
    sent = await _send_once(
        ctx,
        event,
        "template",
        lambda: gateway.send_template(follower.openid, template_id, data, url=url or None),
        user_id=user_id,
        template_id=template_id,
    )
    if not sent:
        return
    if bill is not None:
        await gateway_text_soft(gateway, follower.openid, bill[0])
    if event.topic == "booking.rating_requested" and event.payload.get("booking_id"):
        # The next "5" from this follower rates the booking (the state expires like any flow).
        await save_state(
            ctx.store,
            follower.openid,
            {
                "flow": "rate",
                "booking_id": str(event.payload["booking_id"]),
                "code": event.payload.get("booking_code", ""),
            },
        )
        await gateway_text_soft(
            gateway,
            follower.openid,
            prompt_for(
                str(event.payload.get("instrument_name", "")), str(event.payload.get("booking_code", ""))
            ),
        )


async def gateway_text_soft(gateway: Sender, openid: str, text: str) -> None:
    """A customer-service text when WeChat allows it (48 hours after the user's last message)."""
    try:
        await gateway.send_text(openid, text)
    except WeChatError as exc:
        log.info("customer-service message not sent (%s)", exc.errcode)


@idle_when(_without_miniprogram)
async def send_subscribe_message(ctx: JobContext, event: Event) -> None:
    """Mini-program subscribe message to the user's mini-program openid."""
    user_id = _user_id(event)
    template_id = WeChatSettings.of(ctx.settings).subscribe_template_ids.get(event.topic, "")
    if user_id is None or not template_id or not await notifications_allowed(ctx.session, user_id):
        return
    openid = await ctx.session.scalar(select(User.wechat_openid).where(User.id == user_id))
    if not openid:
        return
    gateway = _sender(ctx, event, ctx.services[MINIPROGRAM], user_id)
    page = (
        f"pages/booking/detail?id={event.payload['booking_id']}" if event.payload.get("booking_id") else None
    )
    bill = await _bill(ctx, event)
    if bill is not None and bill[1]:  # something to pay in WeChat: the payment page
        page = MINIPROGRAM_PAY_PAGE.format(booking_id=event.payload["booking_id"])
    data = _wechat_data(fields(event.topic, await _with_voucher_share(ctx, event)))
    await _send_once(
        ctx,
        event,
        "subscribe",
        lambda: gateway.send_subscribe(openid, template_id, data, page=page),
        user_id=user_id,
        template_id=template_id,
    )


async def _bill(ctx: JobContext, event: Event) -> tuple[str, bool, str] | None:
    """For a completed booking: the bill's text, whether something is left to pay in WeChat,
    and the H5 payment page ("" without pages)."""
    if event.topic != "booking.completed" or not event.payload.get("booking_id"):
        return None
    checkout = await due_checkout(ctx.session, uuid.UUID(str(event.payload["booking_id"])))
    if checkout is None:
        return None
    in_wechat = pays_in_wechat(ctx.services, checkout.unit_id)
    link = pay_link(WeChatSettings.of(ctx.settings).h5_base_url, checkout.booking_id)
    text = bill_text(checkout, in_wechat=in_wechat, link=link)
    return text, in_wechat and checkout.due_fen > 0, link


def _link(ctx: JobContext, event: Event) -> str:
    base = WeChatSettings.of(ctx.settings).h5_base_url.rstrip("/")
    booking_id = event.payload.get("booking_id")
    return f"{base}/bookings/{booking_id}" if base and booking_id else ""


async def push_reply(ctx: JobContext, event: Event) -> None:
    """A reply that missed WeChat's 5 seconds, sent as a customer-service message."""
    gateway = _sender(ctx, event, ctx.services[OFFICIAL_ACCOUNT])
    openid, text = str(event.payload["openid"]), str(event.payload["text"])
    await _send_once(
        ctx,
        event,
        "custom",
        lambda: gateway.send_text(openid, text),
        final_errors=frozenset(FINAL_ERRORS | {45015}),  # 45015: the 48-hour window closed
    )


async def look_up_follower(ctx: JobContext, event: Event) -> None:
    """Ask WeChat for a follower's unionid and bind the follower to the user who has it."""
    gateway: WeChatGateway = ctx.services[OFFICIAL_ACCOUNT]
    if WeChatSettings.of(ctx.settings).keeps_notifications_local(gateway.app_id):
        return  # demo credentials: no WeChat to ask (the bind code still binds)
    openid = str(event.payload["openid"])
    try:
        info = await gateway.user_info(openid)
    except WeChatError as exc:
        if exc.errcode is not None and exc.errcode != 40001:
            log.info("user info for a follower not available (%s)", exc.errcode)
            return
        raise
    if info.get("unionid"):
        await bind_by_unionid(ctx.session, openid, str(info["unionid"]))


CONSUMERS: dict[str, Sequence[Consumer]] = {
    **{topic: [send_template_message, send_subscribe_message] for topic in NOTIFICATION_TOPICS},
    "bot.push_reply": [push_reply],
    "bot.follower_seen": [look_up_follower],
    HOUSEKEEPING_TOPIC: [flag_interrupted_sends],
}
