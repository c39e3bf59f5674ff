"""Erasing a user's personal data on their request (PIPL art. 47), in one transaction.

What financial and settlement records need stays, pseudonymised: bookings that carry money (a
voucher hold or capture in the ledger, a payment order, an invoice, a fee), the ledger, payment
orders and invoices, and ratings' scores (the settlement's evidence chain). They keep pointing to
the user's row, which loses the name, password, WeChat identities and phone, and can no longer
sign in. Everything else about the user is deleted: memberships, bookings that never carried
money, free text (booking notes, rating comments, what was said to the service desk), waiting-list
entries, training requests, qualifications, calendar feeds, series, notification records and
consent. Outbox events and stored idempotent answers that name the user keep what they carry
about bookings and money, the user's identifiers replaced by a pseudonym (``privacy.traces``).
The answer, in Chinese, lists what was kept and why, and what was deleted; it is kept as the
record of the erasure.

Refused while the user has a booking under way or a bill unpaid: those need them still.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Membership, NotificationConsent, RefreshToken, User
from booking.models import (
    Booking,
    BookingHistory,
    BookingSeries,
    BookingSeriesSlot,
    BookingStatus,
    CalendarFeed,
    Qualification,
    TrainingRequest,
    WaitlistEntry,
)
from bot.models import Follower, HumanRequest, LocalMessage, SentNotification, UserPhone
from privacy.models import PersonalDataErasure
from privacy.traces import ERASED_NAME, identity_of, scrub_traces
from ratings.models import Rating
from results.models import ResultDownload
from vouchers.models import InvoiceRequest, PaymentOrder, VoucherCheckout
from yixiang.db import transaction, utcnow
from yixiang.errors import Conflict
from yixiang.settings import Settings

UNDER_WAY = (BookingStatus.requested, BookingStatus.confirmed, BookingStatus.in_service)
ENDED_WITHOUT_SERVICE = (BookingStatus.cancelled, BookingStatus.rejected, BookingStatus.expired)

KEPT_BOOKINGS = (
    "涉及费用的预约记录：属于会计凭证与创新券兑付的凭证链（预约、使用、支付、交付、评价），"
    "依《会计档案管理办法》须保存；已删除姓名、备注等，仅以匿名编号关联"
)
KEPT_MONEY = "支付订单、退款、发票与创新券账本分录：财务记录，依法须保存；不含您的姓名"
KEPT_SCORES = "评价的分数：兑付凭证链的一环，并计入仪器的平均分；评价文字已删除"
KEPT_TRACES = (
    "预约、支付等事件的待处理与已处理记录，以及重复提交时用于返回同一结果的应答记录：保留预约编号、"
    "金额与时间，使费用处理与对账不受影响；其中您的账号编号、用户名、微信标识、手机号与姓名已替换为"
    "匿名编号，备注与留言文字已删除"
)
KEPT_DOWNLOADS = "结果文件的下载记录：结果属于您所在企业，下载记录作为审计留存，只以匿名编号关联"


class ErasureBlocked(Conflict):
    code = "personal_data_in_use"
    message = "您还有进行中的预约或未结清的账单，请先取消或完成后再申请删除个人信息"


@dataclass(frozen=True)
class Erasure:
    kept: list[dict[str, Any]]
    deleted: list[dict[str, Any]]


async def _count(session: AsyncSession, statement: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(statement.subquery())) or 0)


def _money_in(booking: Any) -> Any:
    """A booking carries money: a fee charged, vouchers held or captured (the ledger has them) or
    a payment, a payment order, an invoice. A checkout of nothing (no voucher held) is not money."""
    return or_(
        func.coalesce(booking.cancellation_fee_fen, 0) > 0,
        exists().where(
            VoucherCheckout.booking_id == booking.id,
            or_(
                VoucherCheckout.held_fen > 0,
                VoucherCheckout.voucher_fen > 0,
                VoucherCheckout.paid_fen > 0,
                VoucherCheckout.captured_at.is_not(None),
            ),
        ),
        exists().where(PaymentOrder.booking_id == booking.id),
        exists().where(InvoiceRequest.booking_id == booking.id),
    )


async def erase_personal_data(session: AsyncSession, principal: Principal, settings: Settings) -> Erasure:
    uid = principal.user_id
    pseudonym = f"erased-{uuid.uuid4().hex[:16]}"
    async with transaction(session):
        user = await session.get(User, uid, with_for_update=True)
        assert user is not None
        mine = select(Booking.id).where(Booking.user_id == uid)
        under_way = await _count(session, mine.where(Booking.status.in_(UNDER_WAY)))
        unpaid = await _count(
            session,
            select(VoucherCheckout.booking_id).where(
                VoucherCheckout.booking_id.in_(mine), VoucherCheckout.due_fen > 0
            ),
        )
        if under_way or unpaid:
            raise ErasureBlocked(bookings_under_way=under_way, bills_unpaid=unpaid)

        identity = await identity_of(session, user, settings, pseudonym)
        deleted: list[dict[str, Any]] = []

        async def drop(what: str, statement: Any) -> None:
            done = cast(CursorResult[Any], await session.execute(statement))
            if done.rowcount:
                deleted.append({"what": what, "count": done.rowcount})

        without_money = (
            select(Booking.id)
            .where(Booking.user_id == uid, Booking.status.in_(ENDED_WITHOUT_SERVICE), ~_money_in(Booking))
            .scalar_subquery()
        )
        await drop("候补记录", delete(WaitlistEntry).where(WaitlistEntry.user_id == uid))
        await session.execute(
            update(WaitlistEntry).where(WaitlistEntry.booking_id.in_(without_money)).values(booking_id=None)
        )
        await session.execute(
            delete(BookingSeriesSlot).where(BookingSeriesSlot.booking_id.in_(without_money))
        )
        await session.execute(delete(BookingHistory).where(BookingHistory.booking_id.in_(without_money)))
        await session.execute(delete(VoucherCheckout).where(VoucherCheckout.booking_id.in_(without_money)))
        await drop(
            "未产生费用的预约（已取消、被拒绝或审批超时）",
            delete(Booking).where(Booking.id.in_(without_money)),
        )
        series_left = select(BookingSeriesSlot.series_id).where(BookingSeriesSlot.booking_id.is_not(None))
        await session.execute(
            delete(BookingSeriesSlot).where(
                BookingSeriesSlot.series_id.in_(select(BookingSeries.id).where(BookingSeries.user_id == uid)),
                BookingSeriesSlot.series_id.not_in(series_left),
            )
        )
        await drop(
            "周期预约",
            delete(BookingSeries).where(
                BookingSeries.user_id == uid,
                BookingSeries.id.not_in(select(BookingSeriesSlot.series_id)),
            ),
        )
        await drop("上机培训申请", delete(TrainingRequest).where(TrainingRequest.user_id == uid))
        await drop("上机资格", delete(Qualification).where(Qualification.user_id == uid))
        await drop("日历订阅", delete(CalendarFeed).where(CalendarFeed.user_id == uid))
        await drop("所属企业与角色", delete(Membership).where(Membership.user_id == uid))
        await drop("登录凭证", delete(RefreshToken).where(RefreshToken.user_id == uid))
        await drop("手机号", delete(UserPhone).where(UserPhone.user_id == uid))
        await drop("微信公众号绑定", delete(Follower).where(Follower.user_id == uid))
        await drop("人工客服留言", delete(HumanRequest).where(HumanRequest.user_id == uid))
        await drop("本地消息副本", delete(LocalMessage).where(LocalMessage.user_id == uid))
        await drop("通知发送记录", delete(SentNotification).where(SentNotification.user_id == uid))
        await drop("通知授权记录", delete(NotificationConsent).where(NotificationConsent.user_id == uid))
        await drop(
            "预约备注",
            update(Booking).where(Booking.user_id == uid, Booking.note != "").values(note=""),
        )
        await drop(
            "评价文字",
            update(Rating).where(Rating.rated_by == uid, Rating.comment != "").values(comment=""),
        )

        kept: list[dict[str, Any]] = []
        traces = await scrub_traces(session, identity)
        for what, statement, why in (
            ("预约记录", select(Booking.id).where(Booking.user_id == uid), KEPT_BOOKINGS),
            ("支付订单", select(PaymentOrder.id).where(PaymentOrder.booking_id.in_(mine)), KEPT_MONEY),
            ("评价分数", select(Rating.id).where(Rating.rated_by == uid), KEPT_SCORES),
            ("结果下载记录", select(ResultDownload.id).where(ResultDownload.user_id == uid), KEPT_DOWNLOADS),
        ):
            count = await _count(session, statement)
            if count:
                kept.append({"what": what, "count": count, "why": why})
        if traces:
            kept.append({"what": "系统事件与请求应答记录", "count": traces, "why": KEPT_TRACES})
        kept.append({"what": "账号", "count": 1, "why": "以匿名编号保留，使上述记录仍可对账；已无法登录"})

        user.username = pseudonym
        user.display_name = ERASED_NAME
        user.password_hash = None
        user.wechat_openid = None
        user.wechat_unionid = None
        user.is_active = False
        user.token_version += 1  # every sign-in ends now
        session.add(
            PersonalDataErasure(
                user_id=uid, erased_at=utcnow(), kept={"items": kept}, deleted={"items": deleted}
            )
        )
    return Erasure(kept=kept, deleted=deleted)
