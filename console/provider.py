"""Provider staff and unit admins: the unit's bookings (today, this week, any), one booking with its
history and the actions its state allows, and the sample queue.

Every action calls the booking service the API calls (``booking.services``), which checks who may
act; the buttons shown are the state machine's (``booking.states.TRANSITIONS``) for this state.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from accounts.models import STAFF_ROLES
from booking import services
from booking.errors import NotProviderStaff
from booking.models import SLOT_HOLDING, Booking, BookingStatus
from booking.queries import get_booking, list_bookings
from booking.schemas import CompleteIn
from booking.sensed import SENSED_USE, SensedUse
from booking.services import ACTION_LABELS, STATUS_LABELS
from booking.states import TRANSITIONS, Actor
from catalogue.models import ServiceMode
from console.booking_rows import (
    BOOKING_COLUMNS,
    EXPORT_HEADER,
    BookingSelection,
    booking_names,
    export_job,
    export_row,
    shown_fee_fen,
    when_text,
)
from console.exports import as_job
from console.long_work import BOOKINGS_EXPORT
from console.long_work import STATUS_LABELS as JOB_LABELS
from console.names import user_names
from console.pages import act, as_input, render
from console.tables import MAX_EXPORT_ROWS, download, read_table
from console.weeks import today_range, week_range
from results.services import DELIVERABLE, download_path, list_results
from results.settings import ResultsSettings
from yixiang.clock import SHANGHAI
from yixiang.db import transaction
from yixiang.errors import InvalidInput
from yixiang.long_jobs import recent_jobs

STAFF = requires_role(*STAFF_ROLES)
WHEN = {"today": "今天", "week": "本周", "all": "全部"}
# How a booking began, in its history (the later transitions are booking's ACTION_LABELS).
CREATION_LABELS = {"request": "提交预约申请", "book": "预约"}
# The provider's actions on a booking, by the name its URL carries.
ACTIONS = {
    "approve": "approve",
    "reject": "reject",
    "check-in": "check_in",
    "complete": "complete",
    "no-show": "no_show",
}


def provider_actions(booking: Booking) -> list[tuple[str, str]]:
    """(url name, label) of each provider action the booking's state allows now."""
    return [
        (url, ACTION_LABELS[action])
        for url, action in ACTIONS.items()
        if booking.status in TRANSITIONS[action].sources and Actor.provider in TRANSITIONS[action].actors
    ]


def desk_unit(principal: Principal, query: dict[str, str]) -> uuid.UUID:
    """The unit whose desk this is: the one asked for (theirs), else the first of theirs."""
    asked = query.get("unit")
    if asked:
        try:
            unit_id = uuid.UUID(asked)
        except ValueError as exc:
            raise InvalidInput("单位编号有误", field="unit") from exc
        if unit_id not in principal.unit_ids:
            raise NotProviderStaff()
        return unit_id
    return sorted(principal.unit_ids)[0]


def sensed_offer(sensed: SensedUse | None) -> dict[str, str] | None:
    """The sensor's record as the completion form offers it: how long (the span it would record)
    and when the instrument ran, in Shanghai time."""
    if sensed is None:
        return None
    start, end = sensed.start.astimezone(SHANGHAI), sensed.end.astimezone(SHANGHAI)
    shape = "%H:%M" if start.date() == end.date() else "%m-%d %H:%M"
    span = int((sensed.end - sensed.start).total_seconds())
    offer = {"length": _hours_minutes(span), "running": f"{start:{shape}}–{end:{shape}}"}
    if sensed.running_seconds < span - 59:  # several runs with pauses between
        offer["ran"] = _hours_minutes(sensed.running_seconds)
    return offer


def _hours_minutes(seconds: int) -> str:
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} 小时 {minutes} 分" if hours else f"{minutes} 分"


@get(
    "/bookings",
    summary="Console: the unit's bookings (today, this week, all), paged, sorted, filtered",
    guards=[STAFF],
)
async def bookings(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template | Response[bytes] | Redirect:
    query = dict(request.query_params)
    table = read_table(
        query,
        BOOKING_COLUMNS,
        default_sort="start",
        default_descending=False,
        filters=("when", "status", "unit"),
    )
    when = table.filters.setdefault("when", "week")
    if when not in WHEN:
        when = table.filters["when"] = "week"
    status = (
        BookingStatus(table.filters["status"])
        if table.filters.get("status") in BookingStatus.__members__
        else None
    )
    unit_id = desk_unit(principal, query)
    span = today_range() if when == "today" else week_range() if when == "week" else (None, None)
    export = query.get("format") if query.get("format") in ("csv", "xlsx") else None
    selection = BookingSelection(
        unit_id, status, span[0], span[1], table.sort, table.descending, f"bookings-{when}"
    )
    if export:  # counted first: a large download becomes a job before any row is read
        _, total = await selection.fetch(db_session, principal, limit=0, offset=0)
        if as_job(request, total):
            return await export_job(request, principal, selection, export, min(total, MAX_EXPORT_ROWS))
    rows, table.total = await selection.fetch(
        db_session,
        principal,
        limit=MAX_EXPORT_ROWS if export else table.per_page,
        offset=0 if export else table.offset,
    )
    found = [b for b, _ in rows]
    async with transaction(db_session, read_only=True):
        names = await booking_names(db_session, found)
    if export:
        return download(EXPORT_HEADER, [export_row(b, names) for b in found], export, selection.name)
    async with transaction(db_session, read_only=True):
        exports = await recent_jobs(db_session, kind=BOOKINGS_EXPORT, organization_ids={unit_id}, limit=5)
    return render(
        request,
        "bookings.html",
        table=table,
        rows=[
            {
                "booking": b,
                "instrument": names.get(b.instrument_id, ""),
                "enterprise": names.get(b.enterprise_id, ""),
                "when": when_text(b),
                "status": STATUS_LABELS[b.status],
                "fee": shown_fee_fen(b),
                "actions": [a for a in provider_actions(b) if a[0] in ("approve", "check-in", "no-show")],
            }
            for b in found
        ],
        when=when,
        when_labels=WHEN,
        status=status,
        status_labels=STATUS_LABELS,
        units=[m for m in principal.memberships if m.organization_id in principal.unit_ids],
        unit_id=unit_id,
        exports=exports,
        job_labels=JOB_LABELS,
    )


@get("/samples", summary="Console: the unit's sample queue, in queue order", guards=[STAFF])
async def samples(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    query = dict(request.query_params)
    table = read_table(
        query, BOOKING_COLUMNS, default_sort="created", default_descending=False, filters=("unit",)
    )
    unit_id = desk_unit(principal, query)
    rows, table.total = await list_bookings(
        db_session,
        principal,
        unit_id=unit_id,
        mode=ServiceMode.sample_testing,
        statuses=SLOT_HOLDING,
        sort="created",
        descending=False,
        limit=table.per_page,
        offset=table.offset,
    )
    async with transaction(db_session, read_only=True):
        names = await booking_names(db_session, [b for b, _ in rows])
    return render(
        request,
        "samples.html",
        table=table,
        rows=[
            {
                "booking": b,
                "position": position,
                "instrument": names.get(b.instrument_id, ""),
                "enterprise": names.get(b.enterprise_id, ""),
                "status": STATUS_LABELS[b.status],
                "actions": [a for a in provider_actions(b) if a[0] != "complete"],
            }
            for b, position in rows
        ],
    )


@get(
    "/bookings/{booking_id:uuid}", summary="Console: one booking, its history and its actions", guards=[STAFF]
)
async def booking_page(
    request: Request[Any, Any, Any], booking_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    booking, history, position = await get_booking(db_session, principal, booking_id)
    settings = request.app.state.settings
    files = [
        (f, download_path(settings, f, principal) if f.purged_at is None else None)
        for f in await list_results(db_session, principal, booking_id)
    ]
    actions = provider_actions(booking)
    reader = request.app.state.services.get(SENSED_USE)
    async with transaction(db_session, read_only=True):
        names = await booking_names(db_session, [booking])
        names.update(await user_names(db_session, (h.actor_id for h in history if h.actor_id)))
        completing = any(name == "complete" for name, _ in actions)
        sensed = await services.sensed_use_of(db_session, booking, reader) if completing else None
    return render(
        request,
        "booking.html",
        sensed=sensed_offer(sensed),
        booking=booking,
        names=names,
        when=when_text(booking),
        status=STATUS_LABELS[booking.status],
        position=position,
        history=[
            {
                "at": h.at,
                "action": CREATION_LABELS.get(h.action) or ACTION_LABELS.get(h.action, h.action),
                "to": STATUS_LABELS[h.to_status],
                "who": names.get(h.actor_id, "系统") if h.actor_id else "系统",
                "reason": h.reason,
            }
            for h in history
        ],
        actions=actions,
        machine_time=booking.mode == ServiceMode.machine_time,
        fee=shown_fee_fen(booking),
        results=files,
        # the form is offered when the results service would accept (its own rule)
        can_deliver=booking.status in DELIVERABLE,
        max_file_mb=ResultsSettings.of(settings).max_file_bytes // (1024 * 1024),
    )


def _moment(raw: Any, field: str) -> str | None:
    """A ``datetime-local`` field (Shanghai wall time) as ISO 8601 with its offset."""
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).isoformat()
    except ValueError as exc:
        raise InvalidInput("时间格式有误", field=field) from exc


def complete_input(form: Any) -> CompleteIn:
    """The completion form as the API's body, with the API's bounds (msgspec validates both)."""
    body: dict[str, Any] = {"reason": str(form.get("reason", ""))}
    for field in ("actual_start", "actual_end"):
        if (moment := _moment(form.get(field), field)) is not None:
            body[field] = moment
    if str(form.get("samples", "")).strip():
        try:
            body["samples"] = int(str(form.get("samples")))
        except ValueError as exc:
            raise InvalidInput("样品数应为整数", field="samples") from exc
    result: CompleteIn = as_input(body, CompleteIn)
    return result


async def _has_sensed_use(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID, reader: Any
) -> None:
    """Completing by the sensor's record needs one (it may have changed since the page was shown):
    without it the service would take the booked slot, which the provider did not ask for."""
    if await services.sensed_use_for_provider(session, principal, booking_id, reader) is None:
        raise InvalidInput("传感器没有记录本次使用的时间，请填写实际开始和结束时间", field="actual_start")


@post(
    "/bookings/{booking_id:uuid}/{action:str}",
    summary="Console: approve, reject, check in, complete, no-show",
    guards=[STAFF],
)
async def booking_action(
    request: Request[Any, Any, Any],
    booking_id: uuid.UUID,
    action: str,
    principal: Principal,
    db_session: AsyncSession,
) -> Redirect:
    if action not in ACTIONS:
        raise InvalidInput("未知的操作", action=action[:40])
    form = await request.form()
    reason = str(form.get("reason", ""))[:500]
    back = str(form.get("back", ""))
    back = (
        back
        if back.startswith("/console/") and not back.startswith("//")
        else f"/console/bookings/{booking_id}"
    )

    async def work() -> str:
        if action == "approve":
            done = await services.approve_booking(db_session, principal, booking_id, reason)
        elif action == "reject":
            done = await services.reject_booking(db_session, principal, booking_id, reason)
        elif action == "check-in":
            done = await services.check_in_booking(db_session, principal, booking_id, reason)
        elif action == "no-show":
            done = await services.mark_no_show(db_session, principal, booking_id, reason)
        else:
            reader = request.app.state.services.get(SENSED_USE)
            if form.get("use") == "sensor":  # 按传感器时长完成: no times typed, the sensor's are taken
                await _has_sensed_use(db_session, principal, booking_id, reader)
                data = CompleteIn(reason=reason)
            else:
                data = complete_input(form)
            done = await services.complete_booking(db_session, principal, booking_id, data, sensed_use=reader)
        return (
            f"预约 {done.number}：{ACTION_LABELS[ACTIONS[action]]}，当前状态「{STATUS_LABELS[done.status]}」"
        )

    return await act(back, work)


ROUTES = [bookings, samples, booking_page, booking_action]
