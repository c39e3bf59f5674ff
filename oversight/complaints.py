"""Complaints (投诉渠道, seed 001): a researcher or firm admin complains about a booking of theirs
(the researcher's own, or any of the firm's for its admin) or about a provider unit; the science
bureau of the unit's region accepts it for handling (受理), then upholds it (成立) or rejects it
(不成立 / 不予受理) with its reasons, by a deadline counted in working days from the filing.

Who sees what: the complainant and their firm's admin see status and answer; the unit concerned
sees complaints about it without who filed them (the booking's number only, when there is one);
the region's bureaus see everything; others nothing (404). Upheld complaints count in the unit's
evaluation (``upheld_counts``). Repeating a step that was already taken changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import BOOKER_ROLES, Organization, OrgKind, Role, User
from booking.models import Booking
from catalogue.models import Instrument
from catalogue.workdays import load_working_day_calendar
from oversight.access import bureau_regions, covered, covers, science_regions
from oversight.complaint_models import Complaint, ComplaintStatus
from oversight.evaluation_errors import (
    ComplaintNotFound,
    ComplaintSubjectInvalid,
    InvalidComplaintTransition,
    ScienceBureauRequired,
)
from yixiang.clock import shanghai_today
from yixiang.db import transaction, utcnow
from yixiang.errors import Forbidden
from yixiang.locking import lock_row

OPEN = (ComplaintStatus.filed, ComplaintStatus.accepted)
STATUS_LABELS = {
    ComplaintStatus.filed: "待受理",
    ComplaintStatus.accepted: "已受理",
    ComplaintStatus.upheld: "投诉成立",
    ComplaintStatus.rejected: "投诉不成立",
}


@dataclass(frozen=True)
class ComplaintView:
    """A complaint as the caller may see it: ``complainant``/``firm`` only for the complainant's
    side and the bureau (None for the unit concerned)."""

    complaint: Complaint
    unit_name: str
    instrument_name: str | None
    booking_number: str | None
    complainant: str | None
    firm: str | None
    overdue: bool


async def file_complaint(
    session: AsyncSession,
    principal: Principal,
    *,
    text: str,
    booking_id: uuid.UUID | None = None,
    unit_id: uuid.UUID | None = None,
    enterprise_id: uuid.UUID | None = None,
    handling_working_days: int,
) -> Complaint:
    if not principal.has_role(*BOOKER_ROLES):
        raise Forbidden(required_roles=[r.value for r in BOOKER_ROLES])
    if (booking_id is None) == (unit_id is None):
        raise ComplaintSubjectInvalid(field="booking_id")
    async with transaction(session):
        instrument_id: uuid.UUID | None = None
        if booking_id is not None:
            booking = await session.get(Booking, booking_id)
            admin_of = principal.orgs_where(Role.enterprise_admin)
            if booking is None or not (
                booking.user_id == principal.user_id or booking.enterprise_id in admin_of
            ):
                raise ComplaintSubjectInvalid("未找到您的这条预约", field="booking_id")
            instrument = await session.get(Instrument, booking.instrument_id)
            assert instrument is not None
            unit_id, instrument_id, region, firm = (
                booking.unit_id,
                instrument.id,
                instrument.region_code,
                booking.enterprise_id,
            )
        else:
            unit = await session.get(Organization, unit_id)
            if unit is None or unit.kind != OrgKind.unit:
                raise ComplaintSubjectInvalid("未找到该服务单位", field="unit_id")
            region = unit.region_code
            mine = principal.enterprise_ids
            if enterprise_id is not None and enterprise_id not in mine:
                raise ComplaintSubjectInvalid("您不是该企业的成员", field="enterprise_id")
            firm = enterprise_id or sorted(mine, key=str)[0]
        calendar = await load_working_day_calendar(session)
        now = utcnow()
        complaint = Complaint(
            filed_by=principal.user_id,
            enterprise_id=firm,
            booking_id=booking_id,
            instrument_id=instrument_id,
            unit_id=unit_id,
            region_code=region,
            text=text,
            status=ComplaintStatus.filed,
            filed_at=now,
            deadline=calendar.add_working_days(shanghai_today(now), handling_working_days),
        )
        session.add(complaint)
        await session.flush()
    return complaint


def _complainant_side(principal: Principal, complaint: Complaint) -> bool:
    return complaint.filed_by == principal.user_id or complaint.enterprise_id in principal.orgs_where(
        Role.enterprise_admin
    )


def _handler_side(principal: Principal, complaint: Complaint) -> bool:
    return principal.is_platform_admin or covers(bureau_regions(principal), complaint.region_code)


def can_see(principal: Principal, complaint: Complaint) -> bool:
    return (
        _complainant_side(principal, complaint)
        or _handler_side(principal, complaint)
        or complaint.unit_id in principal.unit_ids
    )


def is_overdue(complaint: Complaint, today: date) -> bool:
    return complaint.status in OPEN and today > complaint.deadline


async def views(
    session: AsyncSession, principal: Principal, complaints: list[Complaint], now: datetime | None = None
) -> list[ComplaintView]:
    today = shanghai_today(now or utcnow())
    names: dict[uuid.UUID, str] = {}
    org_ids = {c.unit_id for c in complaints} | {c.enterprise_id for c in complaints}
    if org_ids:
        names |= dict(
            (
                await session.execute(
                    select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))
                )
            ).all()
        )  # type: ignore[arg-type]
    users = {c.filed_by for c in complaints}
    people = (
        dict((await session.execute(select(User.id, User.display_name).where(User.id.in_(users)))).all())
        if users
        else {}
    )
    instruments = {c.instrument_id for c in complaints if c.instrument_id}
    instrument_names = (
        dict(
            (
                await session.execute(
                    select(Instrument.id, Instrument.name).where(Instrument.id.in_(instruments))
                )
            ).all()
        )
        if instruments
        else {}
    )
    bookings = {c.booking_id for c in complaints if c.booking_id}
    numbers = (
        dict(
            (await session.execute(select(Booking.id, Booking.number).where(Booking.id.in_(bookings)))).all()
        )
        if bookings
        else {}
    )
    found = []
    for c in complaints:
        personal = _complainant_side(principal, c) or _handler_side(principal, c)
        found.append(
            ComplaintView(
                complaint=c,
                unit_name=names.get(c.unit_id, ""),
                instrument_name=instrument_names.get(c.instrument_id) if c.instrument_id else None,
                booking_number=numbers.get(c.booking_id) if c.booking_id else None,
                complainant=people.get(c.filed_by) if personal else None,
                firm=names.get(c.enterprise_id) if personal else None,
                overdue=is_overdue(c, today),
            )
        )
    return found


async def visible_complaints(
    session: AsyncSession,
    principal: Principal,
    *,
    status: ComplaintStatus | None = None,
    overdue: bool = False,
    now: datetime | None = None,
) -> list[Complaint]:
    """The caller's own and their firm's, their units', their regions' (bureaus); all (operator)."""
    query = select(Complaint)
    if not principal.is_platform_admin:
        query = query.where(
            or_(
                Complaint.filed_by == principal.user_id,
                Complaint.enterprise_id.in_(principal.orgs_where(Role.enterprise_admin)),
                Complaint.unit_id.in_(principal.unit_ids),
                covered(Complaint.region_code, bureau_regions(principal)),
            )
        )
    if status is not None:
        query = query.where(Complaint.status == status)
    if overdue:
        query = query.where(Complaint.status.in_(OPEN), Complaint.deadline < shanghai_today(now or utcnow()))
    rows = await session.scalars(query.order_by(Complaint.deadline, Complaint.filed_at).limit(500))
    return list(rows)


async def visible_complaint(
    session: AsyncSession, principal: Principal, complaint_id: uuid.UUID
) -> Complaint:
    complaint = await session.get(Complaint, complaint_id)
    if complaint is None or not can_see(principal, complaint):
        raise ComplaintNotFound()
    return complaint


async def _handled(session: AsyncSession, principal: Principal, complaint_id: uuid.UUID) -> Complaint:
    """The complaint, locked, for an officer of its region's science bureau."""
    complaint = await lock_row(session, Complaint, complaint_id)
    if complaint is None or not can_see(principal, complaint):
        raise ComplaintNotFound()
    if not covers(await science_regions(session, principal), complaint.region_code):
        raise ScienceBureauRequired()
    return complaint


async def accept(session: AsyncSession, principal: Principal, complaint_id: uuid.UUID) -> Complaint:
    """受理: the bureau takes the complaint up."""
    async with transaction(session):
        complaint = await _handled(session, principal, complaint_id)
        if complaint.status == ComplaintStatus.accepted:
            return complaint
        if complaint.status != ComplaintStatus.filed:
            raise InvalidComplaintTransition(status=complaint.status.value)
        complaint.status = ComplaintStatus.accepted
        complaint.accepted_by, complaint.accepted_at = principal.user_id, utcnow()
    return complaint


async def decide(
    session: AsyncSession, principal: Principal, complaint_id: uuid.UUID, *, upheld: bool, answer: str
) -> Complaint:
    """Uphold (an accepted complaint) or reject it (accepted, or not taken up at all), with reasons."""
    target = ComplaintStatus.upheld if upheld else ComplaintStatus.rejected
    async with transaction(session):
        complaint = await _handled(session, principal, complaint_id)
        if complaint.status == target and complaint.answer == answer:
            return complaint  # the same decision again
        allowed = (ComplaintStatus.accepted,) if upheld else OPEN
        if complaint.status not in allowed:
            raise InvalidComplaintTransition(status=complaint.status.value)
        complaint.status = target
        complaint.answer = answer
        complaint.decided_by, complaint.decided_at = principal.user_id, utcnow()
    return complaint


async def upheld_counts(
    session: AsyncSession, *, region_code: str, start: datetime, end: datetime
) -> tuple[dict[uuid.UUID, int], dict[uuid.UUID, int]]:
    """Complaints upheld in [start, end) in the region: per unit, and per instrument."""
    where = (
        covered(Complaint.region_code, {region_code}),
        Complaint.status == ComplaintStatus.upheld,
        Complaint.decided_at >= start,
        Complaint.decided_at < end,
    )
    units = dict(
        (
            await session.execute(
                select(Complaint.unit_id, func.count()).where(*where).group_by(Complaint.unit_id)
            )
        ).all()
    )
    instruments = dict(
        (
            await session.execute(
                select(Complaint.instrument_id, func.count())
                .where(*where, Complaint.instrument_id.is_not(None))
                .group_by(Complaint.instrument_id)
            )
        ).all()
    )
    return units, instruments  # type: ignore[return-value]
