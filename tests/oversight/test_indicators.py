"""The bureaus' indicators on a hand-built year of records (2025, in a test region of its own),
each figure compared with the arithmetic written beside it; and the daily roll-up kept current
when sessions and bookings change.

The records are rows written as the flows leave them (bookings with their recorded hours,
checkouts, ratings, sessions, sensor bindings, idle cases): the flows themselves are tested in
their packages. The roll-up is computed by its own job from the sessions (``oversight.rollup``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from accounts.models import Organization, OrgKind, Region, User
from booking.models import Booking, BookingStatus
from catalogue.models import Category, Instrument, PriceUnit, ServiceItem, ServiceMode
from oversight.indicators import (
    InstrumentFigures,
    UnitFigures,
    instrument_and_unit_figures,
    instrument_figures,
    unit_figures,
)
from oversight.models import (
    BindingAction,
    IdleCase,
    IdleSource,
    Sensor,
    SensorBinding,
    SessionSource,
    UsageDay,
    UsageSession,
)
from oversight.rollup import refresh_all_stale
from oversight.stale import mark_stale
from ratings.models import Rating
from tests.booking.world import ZJLG
from tests.oversight.world import at
from vouchers.models import CheckoutState, VoucherCheckout
from yixiang.clock import shanghai_today

# Each world is built in regions of its own: the demo's records (and other tests') stay out of its figures
_REGIONS = iter(range(10, 100, 2))
YEAR = (date(2025, 1, 1), date(2026, 1, 1))


@dataclass
class Year:
    """The hand-built world's ids."""

    u1: uuid.UUID
    u2: uuid.UUID
    f1: uuid.UUID
    f2: uuid.UUID
    lab: uuid.UUID
    a: uuid.UUID  # sensor, generic category
    b: uuid.UUID  # no sensor: bookings stand in
    c: uuid.UUID  # listed late in the year, unused
    d: uuid.UUID  # listed after the year
    e: uuid.UUID  # another region
    region: str
    other_region: str
    ids: dict[str, Any] = field(default_factory=dict)


def _org(kind: OrgKind, name: str, region: str, parent: uuid.UUID | None = None) -> Organization:
    return Organization(id=uuid.uuid4(), kind=kind, name=name, region_code=region, parent_id=parent)


def _instrument(
    region: str, unit: uuid.UUID, category: str, listed: datetime, *, complete: bool, **extra: Any
) -> Instrument:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "name": f"年度仪器 {uuid.uuid4().hex[:6]}",
        "category_code": category,
        "original_value_fen": 150_000_000,
        "unit_id": unit,
        "region_code": region,
        "published_at": listed,
        "contact_phone": "0571-88000000",
        "fee_basis": "按成本补偿原则核定" if complete else "",
        **extra,
    }
    return Instrument(**values)


def _item(instrument: uuid.UUID) -> ServiceItem:
    return ServiceItem(
        instrument_id=instrument,
        name="机时",
        mode=ServiceMode.machine_time,
        price_unit=PriceUnit.per_hour,
        internal_price_fen=10_000,
        external_price_fen=20_000,
    )


def _booking(
    world: Year,
    instrument: uuid.UUID,
    unit: uuid.UUID,
    firm: uuid.UUID,
    status: BookingStatus,
    *,
    rate: str = "external",
    booked: tuple[datetime, datetime] | None = None,
    actual: tuple[datetime, datetime] | None = None,
) -> Booking:
    mode = ServiceMode.machine_time if booked else ServiceMode.sample_testing
    return Booking(
        id=uuid.uuid4(),
        instrument_id=instrument,
        unit_id=unit,
        enterprise_id=firm,
        user_id=world.ids["user"],
        mode=mode,
        samples=None if booked else 2,
        start_at=booked[0] if booked else None,
        end_at=booked[1] if booked else None,
        block_end=booked[1] if booked else None,
        status=status,
        rate=rate,
        quoted_fee_fen=0,
        fee_breakdown={},
        actual_start=actual[0] if actual else None,
        actual_end=actual[1] if actual else None,
    )


def _checkout(b: Booking, *, fee: int, voucher: int, due: int, captured_at: datetime) -> VoucherCheckout:
    return VoucherCheckout(
        booking_id=b.id,
        enterprise_id=b.enterprise_id,
        unit_id=b.unit_id,
        instrument_id=b.instrument_id,
        region_code="330100",
        category_code="0101",
        state=CheckoutState.captured,
        usage_year=captured_at.year,
        quoted_fee_fen=fee,
        held_fen=voucher,
        fee_fen=fee,
        voucher_fen=voucher,
        due_fen=due,
        paid_fen=fee - voucher - due,
        captured_at=captured_at,
    )


def _rating(b: Booking, world: Year, overall: int, created: datetime, hidden: bool = False) -> Rating:
    return Rating(
        booking_id=b.id,
        instrument_id=b.instrument_id,
        unit_id=b.unit_id,
        enterprise_id=b.enterprise_id,
        rated_by=world.ids["user"],
        overall=overall,
        created_at=created,
        hidden_at=created + timedelta(days=1) if hidden else None,
    )


def _session(instrument: uuid.UUID, start: datetime, end: datetime, source: SessionSource) -> UsageSession:
    return UsageSession(instrument_id=instrument, start_at=start, end_at=end, source=source, counted=True)


async def build_year(backend: Any) -> Year:
    n = next(_REGIONS)
    region, other = f"3399{n:02d}", f"3399{n + 1:02d}"
    async with backend.runtime.session_maker() as session, session.begin():
        for code in (region, other):
            if await session.get(Region, code) is None:
                session.add(Region(code=code, name=f"测试市{code[-1]}", level="city", parent_code="330000"))
        await session.flush()
        u1, u2 = _org(OrgKind.unit, "年度测试大学", region), _org(OrgKind.unit, "年度测试研究所", region)
        f1 = _org(OrgKind.enterprise, "年度测试甲公司", region)
        f2 = _org(OrgKind.enterprise, "年度测试乙公司", region)
        lab = _org(OrgKind.enterprise, "年度测试大学附属实验室", region, parent=u1.id)
        session.add_all([u1, u2, f1, f2, lab])
        user = User(id=uuid.uuid4(), username=f"year-{uuid.uuid4().hex[:8]}", display_name="年度测试用户")
        session.add(user)
        await session.flush()
        non_generic = await session.get(Category, "0107")
        assert non_generic is not None and not non_generic.generic
        # A: listed 2025-03-03, accepted 2025-02-10 (deadline: 30 working days later, 2025-03-24)
        a = _instrument(
            region, u1.id, "0101", at("2025-03-03", "10:00"), complete=True, acceptance_date=date(2025, 2, 10)
        )
        # B: accepted 2024-10-08, listed 2024-12-01 (after its deadline of 2024-11-19); fee basis missing
        b = _instrument(
            region,
            u1.id,
            "0107",
            at("2024-12-01", "10:00"),
            complete=False,
            acceptance_date=date(2024, 10, 8),
        )
        c = _instrument(region, u2.id, "0107", at("2025-11-20", "10:00"), complete=True)
        d = _instrument(region, u2.id, "0107", at("2026-02-01", "10:00"), complete=True)
        e = _instrument(region, u2.id, "0107", at("2025-01-05", "10:00"), complete=True)
        e.region_code = other
        session.add_all([a, b, c, d, e])
        await session.flush()
        session.add_all([_item(i.id) for i in (a, b, c, d, e)])
        world = Year(u1.id, u2.id, f1.id, f2.id, lab.id, a.id, b.id, c.id, d.id, e.id, region, other)
        world.ids["user"] = user.id

        # A's sensor: bound 2025-03-10, within 30 working days of its listing
        sensor = Sensor(
            id=f"Y-{uuid.uuid4().hex[:10]}", instrument_id=a.id, unit_id=u1.id, secret_sealed=b"-"
        )
        session.add(sensor)
        await session.flush()
        session.add(
            SensorBinding(
                sensor_id=sensor.id,
                action=BindingAction.bound,
                instrument_id=a.id,
                at=at("2025-03-10", "09:00"),
            )
        )

        # --- A: bookings
        a1 = _booking(  # F1, 2025-06-02 09:00-11:00, completed, paid: 400 元 of which 200 元 voucher
            world, a.id, u1.id, f1.id, BookingStatus.rated,
            booked=(at("2025-06-02", "09:00"), at("2025-06-02", "11:00")),
            actual=(at("2025-06-02", "09:00"), at("2025-06-02", "11:00")),
        )  # fmt: skip
        a2 = _booking(  # F2 across the year end, 2025-12-31 22:00 - 2026-01-01 02:00, completed in 2026
            world, a.id, u1.id, f2.id, BookingStatus.completed,
            booked=(at("2025-12-31", "22:00"), at("2026-01-01", "02:00")),
            actual=(at("2025-12-31", "22:00"), at("2026-01-01", "02:00")),
        )  # fmt: skip
        a3 = _booking(world, a.id, u1.id, f1.id, BookingStatus.delivered)  # F1 samples: 100 元, 50 元 unpaid
        a4 = _booking(  # cancelled: its window is nobody's; the sensor's hour in it is internal
            world, a.id, u1.id, f2.id, BookingStatus.cancelled,
            booked=(at("2025-07-01", "09:00"), at("2025-07-01", "12:00")),
        )  # fmt: skip
        a5 = _booking(world, a.id, u1.id, lab.id, BookingStatus.rated, rate="internal")  # the lab's samples
        session.add_all([a1, a2, a3, a4, a5])
        await session.flush()
        session.add_all(
            [
                _checkout(a1, fee=40_000, voucher=20_000, due=0, captured_at=at("2025-06-02", "11:10")),
                _checkout(a2, fee=80_000, voucher=30_000, due=0, captured_at=at("2026-01-01", "02:10")),
                _checkout(a3, fee=10_000, voucher=5_000, due=5_000, captured_at=at("2025-09-10", "16:00")),
                _checkout(a5, fee=6_000, voucher=0, due=0, captured_at=at("2025-05-01", "16:00")),
                _rating(a1, world, 5, at("2025-06-05", "10:00")),
                _rating(a3, world, 4, at("2025-09-15", "10:00")),
                _rating(a2, world, 2, at("2026-01-02", "10:00")),  # next year's
                _rating(a5, world, 1, at("2025-05-03", "10:00"), hidden=True),  # hidden by moderation
            ]
        )
        # --- A: sessions
        session.add_all(
            [
                _session(a.id, at("2025-06-02", "09:00"), at("2025-06-02", "12:00"), SessionSource.sensor),
                _session(a.id, at("2025-12-31", "22:00"), at("2026-01-01", "02:00"), SessionSource.sensor),
                _session(a.id, at("2025-07-01", "09:00"), at("2025-07-01", "10:00"), SessionSource.sensor),
                _session(a.id, at("2025-08-01", "10:00"), at("2025-08-01", "11:30"), SessionSource.manual),
            ]
        )

        # --- B: no sensor; its completed bookings' recorded hours stand in
        b1 = _booking(  # F2, booked 09:00-12:00, ran over: recorded 09:00-13:00, 800 元 paid
            world, b.id, u1.id, f2.id, BookingStatus.completed,
            booked=(at("2025-04-01", "09:00"), at("2025-04-01", "12:00")),
            actual=(at("2025-04-01", "09:00"), at("2025-04-01", "13:00")),
        )  # fmt: skip
        b2 = _booking(  # the lab (internal rate), 14:00-16:30
            world, b.id, u1.id, lab.id, BookingStatus.completed, rate="internal",
            booked=(at("2025-05-06", "14:00"), at("2025-05-06", "16:30")),
            actual=(at("2025-05-06", "14:00"), at("2025-05-06", "16:30")),
        )  # fmt: skip
        b3 = _booking(  # no-show
            world, b.id, u1.id, f1.id, BookingStatus.no_show,
            booked=(at("2025-06-10", "09:00"), at("2025-06-10", "11:00")),
        )  # fmt: skip
        b4 = _booking(  # F1 across the year's start: 2024-12-31 23:00 - 2025-01-01 01:00, 200 元 paid
            world, b.id, u1.id, f1.id, BookingStatus.rated,
            booked=(at("2024-12-31", "23:00"), at("2025-01-01", "01:00")),
            actual=(at("2024-12-31", "23:00"), at("2025-01-01", "01:00")),
        )  # fmt: skip
        # the no-show and the cancellation were recorded in 2025: only their status keeps them out
        b3.updated_at = at("2025-06-10", "11:30")
        a4.updated_at = at("2025-06-30", "09:00")
        session.add_all([b1, b2, b3, b4])
        await session.flush()
        session.add_all(
            [
                _checkout(b1, fee=80_000, voucher=0, due=0, captured_at=at("2025-04-01", "13:10")),
                _checkout(b2, fee=25_000, voucher=0, due=0, captured_at=at("2025-05-06", "16:40")),
                _checkout(b4, fee=20_000, voucher=0, due=0, captured_at=at("2025-01-01", "01:10")),
                # a manual session on B: without sensor sessions in the year, bookings stand in
                _session(b.id, at("2025-07-07", "10:00"), at("2025-07-07", "11:00"), SessionSource.manual),
                # B idle since 2025-09-15, still open
                IdleCase(
                    instrument_id=b.id,
                    unit_id=u1.id,
                    region_code=region,
                    idle_since=at("2025-09-15", "12:00"),
                    source=IdleSource.bookings,
                    level=3,
                ),
            ]
        )
        # E (another region) used heavily: never in this region's figures
        e1 = _booking(
            world, e.id, u2.id, f1.id, BookingStatus.completed,
            booked=(at("2025-03-01", "09:00"), at("2025-03-01", "17:00")),
            actual=(at("2025-03-01", "09:00"), at("2025-03-01", "17:00")),
        )  # fmt: skip
        session.add(e1)
        await session.flush()
        await mark_stale(
            session,
            [
                (a.id, at("2025-06-02", "00:00"), at("2025-06-02", "00:00")),
                (a.id, at("2025-07-01", "00:00"), at("2025-08-01", "00:00")),
                (a.id, at("2025-12-31", "00:00"), at("2026-01-01", "00:00")),
                (b.id, at("2025-07-07", "00:00"), at("2025-07-07", "00:00")),
            ],
        )
    async with backend.runtime.session_maker() as session:
        await refresh_all_stale(session)
    return world


async def figures_of(backend: Any, world: Year, start: date, end: date) -> dict[uuid.UUID, InstrumentFigures]:
    async with backend.runtime.session_maker() as session:
        found = await instrument_figures(
            session, region_code=world.region, start=start, end=end, settings=backend.settings
        )
    return {f.instrument_id: f for f in found}


async def units_of(backend: Any, world: Year, start: date, end: date) -> dict[uuid.UUID, UnitFigures]:
    async with backend.runtime.session_maker() as session:
        found = await unit_figures(
            session, region_code=world.region, start=start, end=end, settings=backend.settings
        )
    return {u.unit_id: u for u in found}


async def test_each_instruments_figures_for_a_hand_built_year(backend):
    world = await build_year(backend)
    figures = await figures_of(backend, world, *YEAR)
    # D was listed after the year; E is another region's
    assert set(figures) == {world.a, world.b, world.c}

    a = figures[world.a]
    assert a.hours_source == "sensor"  # A has sensor sessions in 2025
    assert a.generic is True  # category 0101 电子光学仪器 is marked 通用性强
    # sessions in 2025: 06-02 09:00-12:00 (3 h, of it 2 h inside F1's booking), 07-01 09:00-10:00
    # (1 h inside a cancelled booking: internal), 08-01 manual 1.5 h (internal), 12-31 22:00-24:00
    # (the 2025 part of the session across the year end, inside F2's booking: 2 h external)
    # effective 3 + 1 + 1.5 + 2 = 7.5 h; external 2 + 2 = 4 h; internal 7.5 - 4 = 3.5 h
    assert (a.effective_hours, a.external_hours, a.internal_hours) == (7.5, 4.0, 3.5)
    # norm: listed 2025-03-03, 304 of 365 days: 1760 * 304 / 365 = 1465.8630 h; 7.5 / 1465.8630 = 0.00512
    assert a.usage_rate == 0.0051
    assert a.sharing_rate == round(4 / 7.5, 4) == 0.5333
    # external orders completed in 2025: a1 (06-02) and a3 (samples, 09-10); a2 completed 2026-01-01
    assert a.external_orders == 2
    assert a.external_users == 1  # F1 twice
    # fee income: a1 paid 400 元; a3 still owes 50 元: not counted; a2 is 2026's
    assert a.external_fee_income_fen == 40_000
    # voucher share captured in 2025: a1 200 元 + a3 50 元 (a2's 300 元 captured in 2026)
    assert a.voucher_share_fen == 25_000
    # ratings in 2025: 5 (a1) and 4 (a3); a5's 1 is hidden, a2's 2 is 2026's: (5 + 4) / 2
    assert (a.rating_mean, a.rating_count) == (4.5, 2)
    assert a.listed_on_time is True  # 2025-03-03 <= 2025-03-24
    assert a.sensor_on_time is True  # bound 2025-03-10 <= listed + 30 working days (2025-04-15)
    assert a.service_info_complete is True
    assert a.idle_months == 0

    b = figures[world.b]
    assert b.hours_source == "bookings"  # a manual session only: no sensor sessions in 2025
    assert b.generic is False
    # recorded hours of completed machine time: b1 09:00-13:00 (4 h, F2, external, ran over its
    # booking), b2 2.5 h (the lab: internal rate), b4 the 2025 part 00:00-01:00 (1 h, F1); the no-show
    # counts nothing, nor the manual hour: effective 4 + 2.5 + 1 = 7.5; external 4 + 1 = 5; internal 2.5
    assert (b.effective_hours, b.external_hours, b.internal_hours) == (7.5, 5.0, 2.5)
    assert b.usage_rate == round(7.5 / 1760, 4) == 0.0043  # listed the whole year
    assert b.sharing_rate == round(5 / 7.5, 4) == 0.6667
    assert (b.external_orders, b.external_users) == (2, 2)  # b1 (F2), b4 (F1, completed 2025-01-01)
    assert b.external_fee_income_fen == 80_000 + 20_000
    assert b.voucher_share_fen == 0
    assert (b.rating_mean, b.rating_count) == (None, 0)
    assert b.listed_on_time is False  # listed 2024-12-01, deadline 2024-11-19
    assert b.sensor_on_time is False  # no sensor, deadline (2025-01-14) long past
    assert b.service_info_complete is False  # no fee basis, three months past
    # idle since 2025-09-15: whole months to the year's end (2026-01-01): 09-15 -> 12-15 = 3
    assert b.idle_months == 3

    c = figures[world.c]
    assert (c.hours_source, c.effective_hours, c.usage_rate, c.sharing_rate) == ("bookings", 0.0, 0.0, None)
    assert c.sensor_on_time is None  # listed 2025-11-20: its sensor deadline is in 2026
    assert c.service_info_complete is True and c.listed_on_time is True  # no listing deadline applies


async def test_unit_figures_sum_their_instruments_and_count_each_firm_once(backend):
    world = await build_year(backend)
    units = await units_of(backend, world, *YEAR)
    assert set(units) == {world.u1, world.u2}
    u1 = units[world.u1]
    assert (u1.unit_name, u1.instruments, u1.hours_source) == ("年度测试大学", 2, "mixed")
    # A 7.5 + B 7.5 = 15 h; external 4 + 5 = 9; internal 6
    assert (u1.effective_hours, u1.external_hours, u1.internal_hours) == (15.0, 9.0, 6.0)
    # 15 / (1465.8630 + 1760) = 0.00465
    assert u1.usage_rate == 0.0046
    assert u1.sharing_rate == 0.6
    # F1 used A and B, F2 used B: two firms (not 1 + 2)
    assert u1.external_users == 2
    assert u1.external_orders == 4
    assert u1.external_fee_income_fen == 140_000
    assert u1.voucher_share_fen == 25_000
    assert (u1.rating_mean, u1.rating_count) == (4.5, 2)
    assert (u1.listed_on_time_share, u1.sensor_on_time_share, u1.service_info_complete_share) == (
        0.5,
        0.5,
        0.5,
    )
    assert u1.idle_instruments == 1
    u2 = units[world.u2]
    assert (u2.instruments, u2.effective_hours, u2.sharing_rate, u2.sensor_on_time_share) == (
        1,
        0.0,
        None,
        None,
    )


async def test_both_at_once_are_the_figures_each_call_gives_alone(backend):
    """The evaluation takes both from one pass over the bookings: the same figures, filters and all."""
    world = await build_year(backend)
    periods = [YEAR, (date(2026, 1, 1), date(2026, 2, 1)), (date(2025, 6, 1), date(2025, 6, 1))]
    for start, end in periods:
        for unit_id in (None, world.u1):
            kw: dict[str, Any] = {
                "region_code": world.region,
                "start": start,
                "end": end,
                "unit_id": unit_id,
                "settings": backend.settings,
            }
            async with backend.runtime.session_maker() as session:
                both = await instrument_and_unit_figures(session, **kw)
            async with backend.runtime.session_maker() as session:
                alone = (await instrument_figures(session, **kw), await unit_figures(session, **kw))
            assert both == alone, (start, end, unit_id)
    async with backend.runtime.session_maker() as session:
        instruments, units = await instrument_and_unit_figures(
            session, region_code=world.region, start=YEAR[0], end=YEAR[1], settings=backend.settings
        )
    # the year's figures worked out by hand above: F1 and F2 counted once for U1
    assert {i.instrument_id for i in instruments if i.unit_id == world.u1} == {world.a, world.b}
    assert {u.unit_id: u.external_users for u in units} == {world.u1: 2, world.u2: 0}


async def test_the_year_end_splits_a_booking_and_its_order_goes_to_the_year_it_was_completed(backend):
    world = await build_year(backend)
    january = await figures_of(backend, world, date(2026, 1, 1), date(2026, 2, 1))
    a = january[world.a]
    # 2026-01-01 00:00-02:00 of the session across the year end, inside F2's booking
    assert (a.hours_source, a.effective_hours, a.external_hours) == ("sensor", 2.0, 2.0)
    # a2 was completed (captured) 2026-01-01 02:10: its order, fee and voucher share are January's
    assert (a.external_orders, a.external_fee_income_fen, a.voucher_share_fen) == (1, 80_000, 30_000)
    assert (a.rating_mean, a.rating_count) == (2.0, 1)
    # January has 31 of 365 days: norm 1760 * 31 / 365 = 149.4795 h; 2 / 149.4795 = 0.01338
    assert a.usage_rate == 0.0134
    december = await figures_of(backend, world, date(2024, 12, 1), date(2025, 1, 1))
    b = december[world.b]
    assert (b.effective_hours, b.external_hours) == (1.0, 1.0)  # 2024-12-31 23:00-24:00
    assert b.external_orders == 0  # b4 was completed on 2025-01-01


async def test_filters_narrow_to_a_unit_a_category_or_given_instruments(backend):
    world = await build_year(backend)
    async with backend.runtime.session_maker() as session:
        kw: dict[str, Any] = {
            "region_code": world.region,
            "start": YEAR[0],
            "end": YEAR[1],
            "settings": backend.settings,
        }
        by_unit = await instrument_figures(session, unit_id=world.u2, **kw)
        by_category = await instrument_figures(session, category_code="0101", **kw)
        by_ids = await instrument_figures(session, instrument_ids=[world.b, world.e], **kw)
        none = await instrument_figures(session, instrument_ids=[], **kw)
        elsewhere = await instrument_figures(session, **{**kw, "region_code": world.other_region})
    assert [f.instrument_id for f in by_unit] == [world.c]
    assert [f.instrument_id for f in by_category] == [world.a]
    assert [f.instrument_id for f in by_ids] == [world.b]
    assert none == []
    assert [(f.instrument_id, f.effective_hours) for f in elsewhere] == [(world.e, 8.0)]


async def rollup_of(backend: Any, instrument: uuid.UUID) -> list[tuple[str, str, int, int, int]]:
    from sqlalchemy import select

    async with backend.runtime.session_maker() as session:
        rows = await session.scalars(
            select(UsageDay)
            .where(UsageDay.instrument_id == instrument)
            .order_by(UsageDay.day, UsageDay.source)
        )
        return [
            (str(r.day), r.source.value, r.effective_seconds, r.external_seconds, r.internal_seconds)
            for r in rows
        ]


async def test_the_rollup_splits_days_at_shanghai_midnight_by_source(backend):
    world = await build_year(backend)
    assert await rollup_of(backend, world.a) == [
        ("2025-06-02", "sensor", 3 * 3600, 2 * 3600, 3600),
        ("2025-07-01", "sensor", 3600, 0, 3600),  # inside the cancelled booking: internal
        ("2025-08-01", "manual", 5400, 0, 5400),
        ("2025-12-31", "sensor", 2 * 3600, 2 * 3600, 0),
        ("2026-01-01", "sensor", 2 * 3600, 2 * 3600, 0),
    ]


@pytest.mark.slow
async def test_a_changed_session_and_a_cancelled_booking_update_the_rollup(backend, client, login):
    """Late readings extend a session, a booking cancelled takes its hours out of external: each
    marks its days stale and the roll-up job recomputes them."""
    from oversight.rollup import ROLLUP_DUE
    from tests.booking.world import run_periodic_job, set_calendar
    from tests.oversight.test_usage import R2, book, moment, running
    from tests.oversight.world import P, monitored_instrument, post_batch

    headers = await login(P)
    m = await monitored_instrument(backend, client, headers, running_watts=100, offline_after_minutes=15)
    await set_calendar(client, headers, m.instrument_id)
    day = shanghai_today() - timedelta(days=3)
    booking_id = await book(
        client, backend, await login(R2), m.instrument_id, moment(day, 9), moment(day, 11)
    )
    await post_batch(client, running(m, 1, moment(day, 9), 60))  # 09:00-10:00
    await run_periodic_job(backend, ROLLUP_DUE)
    rows = await rollup_of(backend, m.instrument_id)
    assert rows == [(str(day), "sensor", 3600, 3600, 0)]

    # a reading delivered late, out of order: the sensor ran on 10:00-10:30
    late = [m.message(100 + i, moment(day, 10) + timedelta(minutes=i), "on", 1000) for i in range(31)]
    late.append(m.message(200, moment(day, 10, 31), "off", 0))
    await post_batch(client, late[::-1])
    await run_periodic_job(backend, ROLLUP_DUE)
    assert await rollup_of(backend, m.instrument_id) == [(str(day), "sensor", 5460, 5460, 0)]

    # the provider cancels the booking: its window no longer makes the hours external
    r = await client.post(f"/api/v1/bookings/{booking_id}/cancel", json={"reason": "测试"}, headers=headers)
    assert r.status_code == 200, r.text
    await run_periodic_job(backend, "booking.cancelled")
    await run_periodic_job(backend, ROLLUP_DUE)
    assert await rollup_of(backend, m.instrument_id) == [(str(day), "sensor", 5460, 0, 5460)]


async def test_the_api_answers_the_operator_in_json_csv_and_xlsx_and_a_unit_only_its_own(
    backend, client, login
):
    import io

    from openpyxl import load_workbook

    world = await build_year(backend)
    admin = await login("demo-admin")
    base = f"/api/v1/indicators/instruments?region={world.region}&year=2025"
    r = await client.get(base, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["period_start"], body["period_end"], body["annual_norm_hours"]) == (
        "2025-01-01",
        "2025-12-31",
        1760,
    )
    by_id = {row["instrument_id"]: row for row in body["instruments"]}
    assert set(by_id) == {str(world.a), str(world.b), str(world.c)}
    assert by_id[str(world.a)]["external_fee_income_fen"] == 40_000
    assert by_id[str(world.b)]["hours_source"] == "bookings"

    # the same as dates (both included)
    dates = await client.get(f"{base.split('&')[0]}&start=2025-01-01&end=2025-12-31", headers=admin)
    assert dates.json()["instruments"] == body["instruments"]

    csv_text = (await client.get(base + "&format=csv", headers=admin)).content.decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("仪器名称,分类代码,通用性强,机时来源,有效机时（小时）")
    [row_a] = [line for line in csv_text.splitlines() if str(world.a) in line]
    assert ",是,传感器,7.5,4.0,3.5," in row_a and ",400.00,250.00," in row_a

    units = await client.get(
        f"/api/v1/indicators/units?region={world.region}&year=2025&format=xlsx", headers=admin
    )
    assert units.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(units.content)).active
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    [u1] = [row for row in rows if row[0] == "年度测试大学"]
    assert u1[1:4] == (2, "混合", 15.0) and float(u1[10]) == 1400.0  # 1,400.00 元 of external fees

    # 之江理工's provider: none of these instruments are its unit's; a researcher may not read
    provider = await client.get(base, headers=await login("demo-provider"))
    assert provider.status_code == 200 and provider.json()["instruments"] == []
    refused = await client.get(base, headers=await login("demo-researcher"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_indicator_reader"
    wrong = await client.get(f"{base}&start=2025-02-01&end=2025-03-01", headers=admin)
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "period_invalid"
    backwards = await client.get(f"{base.split('&')[0]}&start=2025-03-01&end=2025-02-01", headers=admin)
    assert backwards.status_code == 400


async def test_a_units_staff_see_their_own_instruments_and_a_bureau_only_its_region(backend, client, login):
    from tests.booking.world import make_instrument

    mine = await make_instrument(backend)  # 之江理工's, in 杭州 (330100), listed now
    year = shanghai_today().year
    provider = await client.get(
        f"/api/v1/indicators/instruments?region=330100&year={year}", headers=await login("demo-provider")
    )
    assert provider.status_code == 200
    rows = provider.json()["instruments"]
    assert str(mine.instrument_id) in {r["instrument_id"] for r in rows}
    assert {r["unit_id"] for r in rows} == {str(ZJLG)}
    bureau = await client.get(
        f"/api/v1/indicators/units?region=330100&year={year}", headers=await login("demo-science-bureau")
    )
    assert bureau.status_code == 200 and len(bureau.json()["units"]) >= 2  # 之江理工 and 杭州材料
    elsewhere = await client.get(
        f"/api/v1/indicators/units?region=330100&year={year}", headers=await login("demo-science-bureau-nb")
    )
    assert elsewhere.status_code == 403
    # a district of 杭州 (where the demo's instruments stand) is inside the city bureau's region
    district = await client.get(
        "/api/v1/indicators/units?region=330106&year=2025", headers=await login("demo-science-bureau")
    )
    assert district.status_code == 200
    district_nb = await client.get(
        "/api/v1/indicators/units?region=330106&year=2025", headers=await login("demo-science-bureau-nb")
    )
    assert district_nb.status_code == 403
