"""The booking number (预约号) people read and type: every booking has one of its own, it finds the
booking however it is typed, and the bookings made before numbers were stored got theirs."""

from __future__ import annotations

import re
import types
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from booking.numbers import booking_number, normalize_number
from tests.booking.world import day_at, machine_time, make_instrument, set_calendar
from tests.support import error_code, migrate_with_old_rows
from yixiang.db import create_engine

B = "/api/v1/bookings"


def test_a_number_is_read_back_however_it_is_typed() -> None:
    assert normalize_number("yx20261202-0a7f3c") == "YX20261202-0A7F3C"
    assert normalize_number(" YX 20261202 0A7F3C ") == "YX20261202-0A7F3C"
    assert normalize_number("YX20261202-0A7F3") is None
    assert normalize_number("3f2b0c1e-8d4a-4c55-9a51-0f6e6f0a7b11") is None


async def test_a_booking_whose_number_is_taken_that_day_gets_another(client, login, backend, monkeypatch):
    world = await make_instrument(backend)
    await set_calendar(client, await login("demo-provider"), world.instrument_id)
    researcher = await login("demo-researcher")
    start = day_at(4, 9)
    first = await client.post(
        B, json=machine_time(world, start, start + timedelta(hours=1)), headers=researcher
    )
    assert first.status_code == 201, first.text
    taken = uuid.UUID(first.json()["id"])
    # The next id booking draws shares the first six digits with the booking just made.
    ids = iter([uuid.UUID(taken.hex[:6] + uuid.uuid4().hex[6:])])
    fake = types.SimpleNamespace(uuid4=lambda: next(ids, None) or uuid.uuid4(), UUID=uuid.UUID)
    monkeypatch.setattr("booking.creation.uuid", fake)

    later = start + timedelta(hours=2)
    second = await client.post(
        B, json=machine_time(world, later, later + timedelta(hours=1)), headers=researcher
    )
    assert second.status_code == 201, second.text
    numbers = {first.json()["number"], second.json()["number"]}
    assert len(numbers) == 2 and all(re.fullmatch(r"YX\d{8}-[0-9A-F]{6}", n) for n in numbers)
    for booking in (first.json(), second.json()):
        found = await client.get(f"{B}/by-number/{booking['number']}", headers=researcher)
        assert found.json()["id"] == booking["id"]


async def test_a_number_nobody_has_or_that_is_no_number_is_answered_plainly(client, login, backend):
    researcher = await login("demo-researcher")
    unknown = await client.get(f"{B}/by-number/YX20000101-ABCDEF", headers=researcher)
    assert unknown.status_code == 404 and error_code(unknown) == "booking_not_found"
    wrong = await client.get(f"{B}/by-number/not-a-number", headers=researcher)
    assert wrong.status_code == 400 and error_code(wrong) == "invalid_booking_number"
    assert "YX" in wrong.json()["error"]["message"]


async def test_bookings_made_before_numbers_were_stored_are_numbered_once_each(tmp_path: Path) -> None:
    """Migration 0014 on SQLite: numbers as the bot showed them; a same-day clash slides along the
    id; a checkout whose payment was recorded owes nothing any more."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'numbers.db'}"
    engine = create_engine(url)
    made = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai; each booking a minute on
    first, other = uuid.uuid4(), uuid.uuid4()
    clash = uuid.UUID(first.hex[:6] + uuid.uuid4().hex[6:])
    try:
        await migrate_with_old_rows(
            url, "0013_voucher_applications", lambda c: _old_rows(c, [first, clash, other], made), engine
        )
        async with engine.connect() as connection:
            numbers = dict((await connection.execute(sa.text("SELECT id, number FROM bookings"))).all())
            checkout = (
                await connection.execute(
                    sa.text("SELECT booking_number, due_fen, paid_fen FROM voucher_checkouts")
                )
            ).one()
    finally:
        await engine.dispose()
    by_id = {uuid.UUID(str(k)): v for k, v in numbers.items()}
    assert by_id[first] == booking_number(first, made)
    assert by_id[other] == booking_number(other, made)
    assert by_id[clash] == booking_number(clash, made, 1) != by_id[first]
    assert tuple(checkout) == (by_id[first], 0, 12_000)


def _old_rows(connection: Connection, ids: list[uuid.UUID], made: Any) -> None:
    """Bookings and a paid checkout as the schema before 0011 held them (ids as SQLite stores
    them, 32 hex digits; no foreign rows: the connection does not check foreign keys)."""
    meta = sa.MetaData()
    bookings = sa.Table("bookings", meta, autoload_with=connection)
    checkouts = sa.Table("voucher_checkouts", meta, autoload_with=connection)
    base = {c.name: None for c in bookings.columns}
    for n, booking_id in enumerate(ids):
        connection.execute(
            bookings.insert().values(
                {
                    **base,
                    "id": booking_id.hex,
                    "instrument_id": uuid.uuid4().hex,
                    "unit_id": uuid.uuid4().hex,
                    "enterprise_id": uuid.uuid4().hex,
                    "user_id": uuid.uuid4().hex,
                    "mode": "machine_time",
                    "status": "completed",
                    "note": "",
                    "rate": "external",
                    "quoted_fee_fen": 24_000,
                    "fee_breakdown": {},
                    "created_at": made + timedelta(minutes=n),
                    "updated_at": made + timedelta(minutes=n),
                }
            )
        )
    connection.execute(
        checkouts.insert().values(
            booking_id=ids[0].hex,
            enterprise_id=uuid.uuid4().hex,
            unit_id=uuid.uuid4().hex,
            instrument_id=uuid.uuid4().hex,
            region_code="330100",
            category_code="0201",
            state="captured",
            usage_year=made.year,
            quoted_fee_fen=24_000,
            held_fen=0,
            fee_fen=24_000,
            voucher_fen=12_000,
            refunded_fen=0,
            due_fen=12_000,
            payment_method="corporate_transfer",
            payment_received_at=made,
            payment_reference="BANK-OLD",
            held_at=made,
            release_reason="",
            updated_at=made,
        )
    )
