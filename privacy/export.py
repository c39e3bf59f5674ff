"""Everything the platform holds about a user, as one JSON document (PIPL: the right to a copy).

Read across the domains that hold it: the account and its WeChat binding and phone (masked),
memberships, the bookings the user made with their history and fees, ratings written, result
files of those bookings and the user's downloads, payment orders and invoices of those bookings,
waiting-list entries, training requests, qualifications, calendar feeds (never their secret
address), weekly series, notification consent and the notifications sent.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.consent import consent_of
from accounts.models import Membership, Organization, User
from booking.models import (
    Booking,
    BookingHistory,
    BookingSeries,
    CalendarFeed,
    Qualification,
    TrainingRequest,
    WaitlistEntry,
)
from bot.models import Follower, HumanRequest, SentNotification, UserPhone
from catalogue.models import Instrument
from ratings.models import Rating
from results.models import ResultDownload, ResultFile
from vouchers.models import InvoiceRequest, PaymentOrder
from yixiang.clock import SHANGHAI
from yixiang.db import utcnow

FORMAT_VERSION = 1


def _t(moment: datetime | None) -> str | None:
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds") if moment is not None else None


async def _all(session: AsyncSession, statement: Any) -> list[Any]:
    return list((await session.scalars(statement)).all())


async def export_personal_data(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    """The caller's own data (nobody else's: there is no user argument)."""
    uid = principal.user_id
    user = await session.get(User, uid)
    assert user is not None
    phone = await session.get(UserPhone, uid)
    follower = await session.scalar(select(Follower).where(Follower.user_id == uid))
    orgs = {o.id: o.name for o in await _all(session, select(Organization))}
    memberships = await _all(session, select(Membership).where(Membership.user_id == uid))
    bookings = await _all(session, select(Booking).where(Booking.user_id == uid).order_by(Booking.created_at))
    ids = [b.id for b in bookings]
    names = {
        i: n
        for i, n in (
            await session.execute(
                select(Instrument.id, Instrument.name).where(
                    Instrument.id.in_({b.instrument_id for b in bookings} or {uuid.uuid4()})
                )
            )
        ).all()
    }
    history = await _all(
        session, select(BookingHistory).where(BookingHistory.booking_id.in_(ids)).order_by(BookingHistory.id)
    )
    files = await _all(session, select(ResultFile).where(ResultFile.booking_id.in_(ids)))
    downloads = await _all(session, select(ResultDownload).where(ResultDownload.user_id == uid))
    orders = await _all(session, select(PaymentOrder).where(PaymentOrder.booking_id.in_(ids)))
    invoices = await _all(session, select(InvoiceRequest).where(InvoiceRequest.booking_id.in_(ids)))
    consent = await consent_of(session, uid)
    numbers = {b.id: b.number for b in bookings}
    return {
        "format": FORMAT_VERSION,
        "exported_at": _t(utcnow()),
        "account": {
            "id": str(uid),
            "username": user.username,
            "display_name": user.display_name,
            "created_at": _t(user.created_at),
            "active": user.is_active,
            "password_set": user.password_hash is not None,
            "wechat_mini_program_bound": user.wechat_openid is not None,
            "wechat_official_account_bound": follower is not None,
            "phone": phone.phone_masked if phone else None,
        },
        "memberships": [
            {"organization": orgs.get(m.organization_id, ""), "role": m.role.value, "since": _t(m.created_at)}
            for m in memberships
        ],
        "bookings": [
            {
                "number": b.number,
                "instrument": names.get(b.instrument_id, ""),
                "organization": orgs.get(b.enterprise_id, ""),
                "mode": b.mode.value,
                "status": b.status.value,
                "start": _t(b.start_at),
                "end": _t(b.end_at),
                "samples": b.samples,
                "note": b.note,
                "quoted_fee_fen": b.quoted_fee_fen,
                "final_fee_fen": b.final_fee_fen,
                "voucher_fen": b.voucher_fen,
                "cancellation_fee_fen": b.cancellation_fee_fen,
                "created_at": _t(b.created_at),
                "history": [
                    {"action": h.action, "to": h.to_status.value, "at": _t(h.at), "reason": h.reason}
                    for h in history
                    if h.booking_id == b.id
                ],
            }
            for b in bookings
        ],
        "ratings": [
            {
                "booking": numbers.get(r.booking_id) or str(r.booking_id),
                "overall": r.overall,
                "timeliness": r.timeliness,
                "data_quality": r.data_quality,
                "professionalism": r.professionalism,
                "value": r.value,
                "comment": r.comment,
                "created_at": _t(r.created_at),
                "reply": r.reply,
            }
            for r in await _all(session, select(Rating).where(Rating.rated_by == uid))
        ],
        "result_files": [
            {
                "booking": numbers.get(f.booking_id),
                "name": f.name,
                "size": f.size,
                "sha256": f.sha256,
                "uploaded_at": _t(f.uploaded_at),
                "purged_at": _t(f.purged_at),
            }
            for f in files
        ],
        "result_downloads": [{"file_id": str(d.file_id), "at": _t(d.at)} for d in downloads],
        "payments": [
            {
                "booking": numbers.get(o.booking_id),
                "out_trade_no": o.out_trade_no,
                "channel": o.channel.value,
                "amount_fen": o.amount_fen,
                "status": o.status.value,
                "refunded_fen": o.refunded_fen,
                "created_at": _t(o.created_at),
                "paid_at": _t(o.paid_at),
            }
            for o in orders
        ],
        "invoices": [
            {
                "booking": numbers.get(i.booking_id),
                "status": i.status.value,
                "title": i.title,
                "email": i.email,
                "amount_fen": i.amount_fen,
                "created_at": _t(i.created_at),
            }
            for i in invoices
        ],
        "waitlist": [
            {
                "instrument": str(w.instrument_id),
                "start": _t(w.start_at),
                "end": _t(w.end_at),
                "status": w.status.value,
            }
            for w in await _all(session, select(WaitlistEntry).where(WaitlistEntry.user_id == uid))
        ],
        "training_requests": [
            {
                "instrument": str(t.instrument_id),
                "status": t.status.value,
                "note": t.note,
                "created_at": _t(t.created_at),
            }
            for t in await _all(session, select(TrainingRequest).where(TrainingRequest.user_id == uid))
        ],
        "qualifications": [
            {
                "instrument": str(q.instrument_id) if q.instrument_id else None,
                "expires_on": q.expires_on.isoformat(),
            }
            for q in await _all(session, select(Qualification).where(Qualification.user_id == uid))
        ],
        "calendar_feeds": [
            {
                "instrument": str(c.instrument_id) if c.instrument_id else None,
                "created_at": _t(c.created_at),
                "revoked_at": _t(c.revoked_at),
            }
            for c in await _all(session, select(CalendarFeed).where(CalendarFeed.user_id == uid))
        ],
        "booking_series": [
            {"instrument": str(s.instrument_id), "weeks": s.weeks, "created_at": _t(s.created_at)}
            for s in await _all(session, select(BookingSeries).where(BookingSeries.user_id == uid))
        ],
        "notification_consent": {
            "given": consent.given,
            "answered_at": _t(consent.at),
            "history": [{"given": g, "at": _t(at), "source": src} for g, at, src in consent.history],
        },
        "notifications_sent": [
            {"topic": n.topic, "channel": n.channel, "status": n.status, "sent_at": _t(n.sent_at)}
            for n in await _all(session, select(SentNotification).where(SentNotification.user_id == uid))
        ],
        "service_requests": [
            {"text": h.text, "created_at": _t(h.created_at)}
            for h in await _all(session, select(HumanRequest).where(HumanRequest.user_id == uid))
        ],
    }
