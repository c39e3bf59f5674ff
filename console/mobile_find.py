"""Phone pages from finding an instrument to a booking: search (filters, facets, live status),
the instrument (photos, specifications, fee standard, ratings, sample requirements, address and
map), its week of free machine time or the sample form, the quote with the voucher share, and
the confirmation.

Each page calls what the API's controller calls (``search.service.search``, ``instrument_out``,
``free_time.availability``, ``quotes.quote_booking``, ``create_booking``): no rule of its own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role, requires_user
from accounts.models import BOOKER_ROLES
from booking import free_time, quotes
from booking.calendar_rules import Interval
from booking.creation import create_booking
from booking.credit import NoShowRule
from booking.models import Booking, BookingStatus, Operation
from booking.rules import describe_rules
from booking.schemas import BookingIn
from booking.services import STATUS_LABELS
from booking.settings import BookingSettings
from catalogue.access import visible_instrument
from catalogue.models import ServiceMode
from catalogue.present import instrument_out, load_names
from catalogue.settings import CatalogueSettings
from console.pages import as_input, render
from console.phone import KEY_FIELD, booking_page, new_key, once
from oversight.live import live_statuses
from ratings.controllers import rating_out
from ratings.services import list_instrument_ratings
from search import service as search_service
from search.backend import Mode, Sort
from search.dependencies import SEARCH_BACKEND
from yixiang.clock import SHANGHAI, shanghai_today
from yixiang.db import transaction
from yixiang.ratelimit import rate_limit

MODE_NAMES = {"machine_time": "机时预约", "self_operation": "自主上机", "sample_testing": "送样检测"}
OPERATION_NAMES = {"self": "自主上机（需上机资格）", "operator": "由仪器管理员操作"}
UNIT_NAMES = {"per_hour": "小时", "per_sample": "样品", "per_item": "项"}
STATUS_NAMES = {"in_service": "可预约", "maintenance": "维修中", "retired": "已退役"}
LIVE_NAMES = {"running": "运行中", "standby": "待机", "off": "关机", "offline": "传感器离线"}
SORT_NAMES = {"relevance": "相关度", "rating": "评分", "price": "价格"}
WEEKDAYS = "一二三四五六日"


def map_link(latitude: float | None, longitude: float | None, name: str, address: str) -> str:
    """A map the phone opens (Amap's public URI: the phone's map app or its web page)."""
    if latitude is not None and longitude is not None:
        return "https://uri.amap.com/marker?" + urlencode(
            {"position": f"{longitude},{latitude}", "name": name, "coordinate": "wgs84", "callnative": 1}
        )
    return "https://uri.amap.com/search?" + urlencode({"keyword": address or name, "callnative": 1})


@get(
    "/m",
    summary="Phone: search instruments (filters, facets, live status)",
    guards=[requires_user, rate_limit("search")],
)
async def search_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    q: Annotated[str, Parameter(max_length=100)] = "",
    region: Annotated[str | None, Parameter(pattern=r"^\d{6}$")] = None,
    category: Annotated[str | None, Parameter(max_length=8)] = None,
    mode: Mode | None = None,
    voucher: bool | None = None,
    sort: Sort | None = None,
    free_week: bool | None = None,
    cursor: Annotated[str | None, Parameter(max_length=200)] = None,
) -> Template:
    week = (shanghai_today(), shanghai_today() + timedelta(days=6)) if free_week else (None, None)
    asked = search_service.SearchRequest(
        q=q, region=region, category=category, mode=mode, voucher=voucher, sort=sort, cursor=cursor, limit=10,
        available_from=week[0], available_to=week[1],
    )  # fmt: skip
    async with transaction(db_session, read_only=True):
        found = await search_service.search(db_session, request.app.state.services[SEARCH_BACKEND], asked)
        live = await live_statuses(db_session, [item.id for item in found.items])
    chosen = {
        "q": q, "region": region, "category": category, "mode": mode, "voucher": voucher, "sort": sort,
        "free_week": free_week,
    }  # fmt: skip

    def link(**change: Any) -> str:
        query = {k: v for k, v in {**chosen, **change}.items() if v not in (None, "")}
        return "/console/m?" + urlencode(
            {k: str(v).lower() if isinstance(v, bool) else v for k, v in query.items()}
        )

    return render(
        request,
        "m_search.html",
        page=found,
        chosen=chosen,
        link=link,
        live={key: LIVE_NAMES.get(value.status) for key, value in live.items()},
        modes=MODE_NAMES,
        statuses=STATUS_NAMES,
        sorts=SORT_NAMES,
    )


@get("/m/instruments/{instrument_id:uuid}", summary="Phone: an instrument", guards=[requires_user])
async def instrument_page(
    request: Request[Any, Any, Any], instrument_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    threshold = int(CatalogueSettings.of(request.app.state.settings).listing_value_threshold_fen)
    async with transaction(db_session, read_only=True):
        instrument = await visible_instrument(db_session, principal, instrument_id)
        names = await load_names(db_session, [instrument.unit_id])
        shown = instrument_out(instrument, names, threshold, show_contact=True, show_inactive=False)
        live = (await live_statuses(db_session, [instrument_id]))[instrument_id]
    rows, _ = await list_instrument_ratings(db_session, instrument_id, cursor=None, limit=5)
    return render(
        request,
        "m_instrument.html",
        i=shown,
        live=LIVE_NAMES.get(live.status),
        ratings=[rating_out(r, public=True) for r in rows],
        map_link=map_link(shown.latitude, shown.longitude, shown.name, shown.address),
        modes=MODE_NAMES,
        units=UNIT_NAMES,
        statuses=STATUS_NAMES,
    )


@dataclass(frozen=True)
class Range:
    label: str  # what the tap shows
    href: str  # where it goes: a free range to its quote, a held one to the waiting list
    held: bool = False


@dataclass(frozen=True)
class Day:
    label: str
    ranges: list[Range]  # in time order, free and held


def clock_range(start: datetime, end: datetime) -> str:
    return f"{start.astimezone(SHANGHAI):%H:%M}–{end.astimezone(SHANGHAI):%H:%M}"


def waitlist_link(instrument_id: uuid.UUID, start: datetime, end: datetime) -> str:
    """A held range tapped: the form to join the waiting list for time within it."""
    query = {"range_start": start.isoformat(), "range_end": end.isoformat()}
    return f"/console/m/instruments/{instrument_id}/waitlist?{urlencode(query)}"


def _quote_link(instrument_id: uuid.UUID, start: datetime, end: datetime, shortest: int) -> str:
    """A free range tapped: the quote of its shortest booking from the range's start."""
    query = {
        "mode": "machine_time",
        "start": start.isoformat(),
        "end": min(start + timedelta(minutes=shortest), end).isoformat(),
        "range_start": start.isoformat(),
        "range_end": end.isoformat(),
    }
    return f"/console/m/instruments/{instrument_id}/quote?{urlencode(query)}"


def _week_ranges(
    instrument_id: uuid.UUID, shortest: int, free: list[Interval], held: list[Interval]
) -> list[tuple[datetime, Range]]:
    """Free ranges (to their quote) and held ones (to the waiting list), in time order."""
    shown = [(s, Range(clock_range(s, e), _quote_link(instrument_id, s, e, shortest))) for s, e in free]
    shown += [(s, Range(clock_range(s, e), waitlist_link(instrument_id, s, e), held=True)) for s, e in held]
    return sorted(shown, key=lambda item: item[0])


@get(
    "/m/instruments/{instrument_id:uuid}/book",
    summary="Phone: a week of free time, or the sample form",
    guards=[requires_user],
)
async def book_page(
    request: Request[Any, Any, Any],
    instrument_id: uuid.UUID,
    principal: Principal,
    db_session: AsyncSession,
    week: date | None = None,
) -> Template:
    today = shanghai_today()
    first = max(week or today, today)
    start = datetime(first.year, first.month, first.day, tzinfo=SHANGHAI)
    found = await free_time.availability(
        db_session, principal, instrument_id, start, start + timedelta(days=7)
    )
    machine_time = ServiceMode.machine_time in found.modes
    async with transaction(db_session, read_only=True):
        instrument = await visible_instrument(db_session, principal, instrument_id)
        items = [i for i in instrument.service_items if i.active]
        held = await free_time.held_time(db_session, instrument_id, start, found.end) if machine_time else []
    rules = found.rules
    shown = _week_ranges(instrument_id, rules.min_duration_minutes, found.ranges, held)
    days = []
    for n in range(7):
        day = first + timedelta(days=n)
        ranges = [r for s, r in shown if s.astimezone(SHANGHAI).date() == day]
        days.append(Day(f"{day.month}月{day.day}日 周{WEEKDAYS[day.weekday()]}", ranges))
    return render(
        request,
        "m_book.html",
        instrument=instrument,
        days=days,
        machine_time=machine_time,
        sample_testing=ServiceMode.sample_testing in found.modes,
        sample_items=[i for i in items if i.mode == ServiceMode.sample_testing],
        summary=describe_rules(
            rules,
            machine_time=machine_time,
            sample_testing=ServiceMode.sample_testing in found.modes,
        ),
        previous=(first - timedelta(days=7)) if first > today else None,
        following=first + timedelta(days=7),
    )


def operation_for(offered: list[Operation], asked: Operation | None) -> Operation | None:
    """The way of operating a phone form shows: the one asked for (the service refuses one not
    offered), else run by the operator where it can be (no training needed)."""
    if asked is not None:
        return asked
    return Operation.operator if Operation.operator in offered else next(iter(offered), None)


def choices(low: datetime, high: datetime, step: int) -> list[datetime]:
    moments, at = [], low
    while at <= high:
        moments.append(at)
        at += timedelta(minutes=step)
    return moments


@get(
    "/m/instruments/{instrument_id:uuid}/quote",
    summary="Phone: the price of a booking, then confirm",
    guards=[requires_role(*BOOKER_ROLES)],
)
async def quote_page(
    request: Request[Any, Any, Any],
    instrument_id: uuid.UUID,
    principal: Principal,
    db_session: AsyncSession,
    mode: ServiceMode,
    start: datetime | None = None,
    end: datetime | None = None,
    range_start: datetime | None = None,
    range_end: datetime | None = None,
    operation: Operation | None = None,
    service_item_id: uuid.UUID | None = None,
    samples: Annotated[int | None, Parameter(ge=1, le=10_000)] = None,
) -> Template:
    found = None
    if mode == ServiceMode.machine_time:
        found = await free_time.availability(db_session, principal, instrument_id, None, None)
        operation = operation_for(found.operations, operation)
    wanted = as_input(
        {
            "instrument_id": str(instrument_id),
            "mode": mode.value,
            "operation": operation.value if operation else None,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
            "service_item_id": str(service_item_id) if service_item_id else None,
            "samples": samples,
        },
        BookingIn,
    )
    quoted = await quotes.quote_booking(db_session, principal, wanted)
    starts: list[datetime] = []
    ends: list[datetime] = []
    if found is not None and start and end and range_start and range_end:
        rules = found.rules
        starts = choices(
            range_start, range_end - timedelta(minutes=rules.min_duration_minutes), rules.slot_minutes
        )
        longest = min(range_end, start + timedelta(minutes=rules.max_duration_minutes))
        ends = choices(start + timedelta(minutes=rules.min_duration_minutes), longest, rules.slot_minutes)
    async with transaction(db_session, read_only=True):
        instrument = await visible_instrument(db_session, principal, instrument_id)
    return render(
        request,
        "m_quote.html",
        instrument=instrument,
        wanted=wanted,
        quote=quoted,
        operations=found.operations if found else [],
        operation_names=OPERATION_NAMES,
        starts=starts,
        ends=ends,
        range_start=range_start,
        range_end=range_end,
        key=new_key(),
        KEY_FIELD=KEY_FIELD,
    )


async def booking_form(request: Request[Any, Any, Any]) -> BookingIn:
    """A phone form's booking fields as the API's booking body (its bounds checked)."""
    form = await request.form()
    fields = ("instrument_id", "mode", "operation", "start", "end", "service_item_id", "samples", "note")
    body: dict[str, Any] = {name: form.get(name) for name in fields if form.get(name)}
    if "samples" in body:
        body["samples"] = int(body["samples"]) if str(body["samples"]).isdigit() else body["samples"]
    wanted: BookingIn = as_input(body, BookingIn)
    return wanted


@post(
    "/m/bookings",
    summary="Phone: confirm the booking (once, however often tapped)",
    guards=[requires_role(*BOOKER_ROLES), rate_limit("booking")],
)
async def confirm(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Redirect:
    wanted = await booking_form(request)
    settings = request.app.state.settings
    back = f"/console/m/instruments/{wanted.instrument_id}"

    async def work() -> tuple[str, str]:
        booking = await create_booking(
            db_session,
            principal,
            wanted,
            max_open_requests=BookingSettings.of(settings).max_open_requests_per_instrument,
            no_show_rule=NoShowRule.of(settings),
        )
        return booked(booking)

    return await once(request, principal, back, work)


def booked(booking: Booking) -> tuple[str, str]:
    """What a phone form that made a booking says, and the booking's page it goes on to."""
    said = "预约成功" if booking.status == BookingStatus.confirmed else "已提交，等待仪器管理员审批"
    return f"{said}（{STATUS_LABELS[booking.status]}），预约号 {booking.number}", booking_page(booking.id)


ROUTES = [search_page, instrument_page, book_page, quote_page, confirm]
