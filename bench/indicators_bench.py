"""The bureaus' indicators for a region-year on PostgreSQL: 100,000 instruments, 10 million
bookings, their checkouts and ratings, and a year of the daily usage roll-up for the instruments
with sensors (issue 22's goal: under 60 s).

    uv run python bench/indicators_bench.py                     # 100,000 instruments, 10^7 bookings
    uv run python bench/indicators_bench.py --instruments 10000 --bookings 1000000
    uv run python bench/indicators_bench.py --fill-only           # fill, keep, print the name
    uv run python bench/indicators_bench.py --database yixiang_bench_1a2b3c4d   # time it again

A scratch database ``yixiang_bench_<random>`` is created on the server, migrated and filled with
SQL (``generate_series``; no ORM inserts), analysed, timed, and dropped at the end (unless
``--keep`` or ``--fill-only``: the fill takes half an hour at full size, so versions of the code
are timed against one fill with ``--database``, which neither fills nor drops). All
instruments are in one region (330100), so the region-year is the whole data set. Timed, each in
its own session: ``instrument_and_unit_figures`` for 2025 (both from one pass: the figure for the
goal), then ``instrument_figures`` and ``unit_figures`` alone, checked to give the same figures;
a fixed Python loop's time is printed beside them (the VM's speed varies).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import date
from typing import Any

import asyncpg

from accounts.regions import load_regions
from catalogue.categories import load_categories
from oversight.indicators import instrument_and_unit_figures, instrument_figures, unit_figures
from yixiang.db import create_engine, create_session_maker
from yixiang.migrate import upgrade
from yixiang.settings import build_settings

LOOP = "n = 0\nfor i in range(10_000_000):\n    n += i"
REGION = "330100"


def python_loop_seconds() -> float:
    started = time.process_time()
    exec(LOOP, {})
    return time.process_time() - started


def fill_sql(instruments: int, bookings: int, sensors: int) -> list[tuple[str, str]]:
    """(what, SQL) in order. Ids are md5 of a name and number, so rows find each other by arithmetic."""
    units, firms = max(1, instruments // 50), max(1, instruments // 5)
    booking_indexes = [
        "ix_bookings_enterprise_created ON bookings (enterprise_id, created_at)",
        "ix_bookings_instrument_start ON bookings (instrument_id, start_at)",
        "ix_bookings_status ON bookings (status)",
        "ix_bookings_status_deadline ON bookings (status, approval_deadline)",
        "ix_bookings_unit_created ON bookings (unit_id, created_at)",
        "ix_bookings_user_id ON bookings (user_id)",
    ]
    return [
        (
            "units and firms",
            f"""
            INSERT INTO organizations (id, kind, name, region_code, is_tech_sme, created_at, updated_at)
            SELECT md5('unit' || g)::uuid, 'unit', '压测单位' || g, '{REGION}', false, now(), now()
            FROM generate_series(1, {units}) g
            UNION ALL
            SELECT md5('firm' || g)::uuid, 'enterprise', '压测企业' || g, '{REGION}', true, now(), now()
            FROM generate_series(1, {firms}) g""",
        ),
        (
            "a user",
            """
            INSERT INTO users (id, username, display_name, is_active, token_version, created_at, updated_at)
            VALUES (md5('user')::uuid, 'bench', '压测用户', true, 0, now(), now())""",
        ),
        (
            "instruments",
            f"""
            INSERT INTO instruments (id, name, name_en, aliases, model, manufacturer, origin, category_code,
                original_value_fen, unit_id, lab, address, region_code, status, publication, published_at,
                acceptance_date, open_to_public, self_operation, operator_run, sample_testing,
                specifications, sample_requirements, photos, contact_name, contact_phone, contact_email,
                voucher_eligible, fee_basis, rating_count, review_note, created_at, updated_at)
            SELECT md5('inst' || g)::uuid, '压测仪器' || g, '', '[]', '', '', 'imported',
                (ARRAY['0101','0102','0103','0104','0105','0106','0107','0108'])[1 + g % 8],
                100000000, md5('unit' || (1 + g % {units}))::uuid, '', '', '{REGION}', 'in_service',
                'published', timestamptz '2024-06-01 10:00+08' + (g % 500) * interval '1 day',
                date '2024-05-01' + (g % 500), true, true, true, true, '{{}}', '', '[]', '', '0571-88000000',
                '', true, CASE WHEN g % 3 = 0 THEN '' ELSE '按成本补偿原则核定' END, 0, '', now(), now()
            FROM generate_series(1, {instruments}) g""",
        ),
        (
            "service items",
            """
            INSERT INTO service_items (id, instrument_id, position, name, mode, price_unit,
                internal_price_fen, external_price_fen, description, active)
            SELECT md5('item' || id::text)::uuid, id, 0, '机时', 'machine_time', 'per_hour',
                10000, 20000, '', true
            FROM instruments""",
        ),
        (
            "bookings: indexes dropped for the load",
            "; ".join(f"DROP INDEX {i.split()[0]}" for i in booking_indexes),
        ),
        (
            "bookings",
            f"""
            INSERT INTO bookings (id, instrument_id, unit_id, enterprise_id, user_id, mode, status, note,
                rate,
                quoted_fee_fen, final_fee_fen, fee_breakdown, start_at, end_at, block_end, actual_start,
                actual_end, samples, created_at, updated_at)
            SELECT md5('b' || g)::uuid, md5('inst' || i)::uuid, md5('unit' || (1 + i % {units}))::uuid,
                md5('firm' || (1 + g % {firms}))::uuid, md5('user')::uuid,
                CASE WHEN sample THEN 'sample_testing' ELSE 'machine_time' END,
                CASE WHEN g % 20 = 1 THEN 'cancelled' WHEN g % 20 = 2 THEN 'no_show'
                     WHEN g % 3 = 0 THEN 'rated' ELSE 'completed' END,
                '', CASE WHEN g % 5 < 3 THEN 'external' ELSE 'internal' END, 20000, 20000, '{{}}',
                CASE WHEN sample THEN NULL ELSE s END, CASE WHEN sample THEN NULL ELSE s + d END,
                CASE WHEN sample THEN NULL ELSE s + d END,
                CASE WHEN sample OR g % 20 IN (1, 2) THEN NULL ELSE s END,
                CASE WHEN sample OR g % 20 IN (1, 2) THEN NULL ELSE s + d END,
                CASE WHEN sample THEN 2 END, s - interval '1 day', s + d
            FROM (
                SELECT g, 1 + g % {instruments} AS i, g % 10 = 0 AS sample,
                    timestamptz '2025-01-01 00:00+08' - interval '3 days'
                        + ((g::bigint * 7919) % 17712) * interval '30 minutes' AS s,
                    (1 + g % 4) * interval '1 hour' AS d
                FROM generate_series(1, {bookings}) g
            ) x""",
        ),
        ("bookings: indexes built again", "; ".join(f"CREATE INDEX {i}" for i in booking_indexes)),
        (
            "checkouts",
            f"""
            INSERT INTO voucher_checkouts (booking_id, booking_number, enterprise_id, unit_id, instrument_id,
                region_code, category_code, state, usage_year, quoted_fee_fen, held_fen, fee_fen, voucher_fen,
                refunded_fen, due_fen, paid_fen, cash_refunded_fen, payment_method, payment_reference,
                held_at,
                captured_at, release_reason, updated_at)
            SELECT id, '', enterprise_id, unit_id, instrument_id, '{REGION}', '0101', 'captured', 2025, 20000,
                CASE WHEN rate = 'external' THEN 5000 ELSE 0 END, 20000,
                CASE WHEN rate = 'external' THEN 5000 ELSE 0 END, 0,
                CASE WHEN hashtext(id::text) % 10 = 0 THEN 15000 ELSE 0 END, 0, 0, 'corporate_transfer', '',
                created_at, updated_at + interval '10 minutes', '', now()
            FROM bookings WHERE status IN ('completed', 'rated')""",
        ),
        (
            "ratings",
            """
            INSERT INTO ratings (id, booking_id, instrument_id, unit_id, enterprise_id, rated_by, overall,
                comment, created_at)
            SELECT md5('r' || id::text)::uuid, id, instrument_id, unit_id, enterprise_id, user_id,
                1 + abs(hashtext(id::text)) % 5, '', updated_at + interval '1 day'
            FROM bookings WHERE status = 'rated'""",
        ),
        (
            "sensors and their bindings",
            f"""
            INSERT INTO oversight_sensors (id, instrument_id, unit_id, status, secret_sealed, firmware,
                installed_at)
            SELECT 'S-' || g, md5('inst' || g)::uuid, md5('unit' || (1 + g % {units}))::uuid, 'active',
                '\\x00', '', timestamptz '2024-06-20 10:00+08' + (g % 500) * interval '1 day'
            FROM generate_series(1, {sensors}) g;
            INSERT INTO oversight_sensor_bindings (sensor_id, action, instrument_id, reason, at)
            SELECT id, 'bound', instrument_id, '', installed_at FROM oversight_sensors""",
        ),
        (
            "usage roll-up (a year of days for the instruments with sensors)",
            f"""
            INSERT INTO oversight_usage_daily (instrument_id, day, source, effective_seconds,
                external_seconds,
                internal_seconds, booked_seconds, updated_at)
            SELECT md5('inst' || g)::uuid, date '2025-01-01' + d, 'sensor', e, e * 6 / 10, e - e * 6 / 10,
                e * 6 / 10, now()
            FROM generate_series(1, {sensors}) g, generate_series(0, 364) d,
                LATERAL (SELECT ((g * 31 + d * 17) % 9) * 1800 AS e) x
            WHERE (g + d) % 7 <> 0""",
        ),
        (
            "idle cases",
            f"""
            INSERT INTO oversight_idle_cases (id, instrument_id, unit_id, region_code, idle_since, source,
                level,
                excused, created_at)
            SELECT md5('idle' || g)::uuid, md5('inst' || g)::uuid, md5('unit' || (1 + g % {units}))::uuid,
                '{REGION}', timestamptz '2025-03-01 00:00+08' + (g % 200) * interval '1 day', 'bookings', 1,
                false, now()
            FROM generate_series(1, {instruments}, 20) g""",
        ),
    ]


async def fill(url: str, args: argparse.Namespace) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    async with create_session_maker(engine)() as session, session.begin():
        await load_regions(session)
        await load_categories(session)
    await engine.dispose()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    # the rows are made consistent by construction: no foreign-key triggers row by row
    await conn.execute("SET session_replication_role = replica")
    await conn.execute("SET maintenance_work_mem = '512MB'")  # the indexes built after the load
    fill_started = time.perf_counter()
    for what, sql in fill_sql(args.instruments, args.bookings, args.sensors):
        started = time.perf_counter()
        await conn.execute(sql)
        print(f"filled {what}: {time.perf_counter() - started:.0f} s", flush=True)
    await conn.execute("VACUUM ANALYZE")
    counts = {
        t: await conn.fetchval(f"SELECT count(*) FROM {t}")
        for t in ("instruments", "bookings", "voucher_checkouts", "ratings", "oversight_usage_daily")
    }
    await conn.close()
    print(f"filled in {time.perf_counter() - fill_started:.0f} s: {counts}", flush=True)


async def measure(url: str) -> None:
    engine = create_engine(url)
    session_maker = create_session_maker(engine)
    settings = build_settings({})
    period = {"region_code": REGION, "start": date(2025, 1, 1), "end": date(2026, 1, 1)}

    async def timed(call: Any) -> tuple[Any, float]:
        started = time.perf_counter()
        async with session_maker() as session:
            found = await call(session, settings=settings, **period)
        return found, time.perf_counter() - started

    print(f"load average: {os.getloadavg()}")
    print(f"python loop of 10^7 additions: {python_loop_seconds():.2f} s", flush=True)
    (instruments, units), both = await timed(instrument_and_unit_figures)
    sensor = sum(1 for f in instruments if f.hours_source == "sensor")
    print(
        f"instrument_and_unit_figures: {len(instruments)} instruments ({sensor} from the roll-up), "
        f"{len(units)} units in {both:.1f} s",
        flush=True,
    )
    print(f"load average: {os.getloadavg()}")
    print(f"python loop of 10^7 additions: {python_loop_seconds():.2f} s", flush=True)
    alone, instruments_alone = await timed(instrument_figures)
    print(f"instrument_figures alone: {instruments_alone:.1f} s", flush=True)
    units_only, units_alone = await timed(unit_figures)
    print(f"unit_figures alone: {units_alone:.1f} s")
    # the one pass gives what the separate calls give
    assert alone == instruments and units_only == units, "the figures differ"
    print(f"load average: {os.getloadavg()}")
    await engine.dispose()


async def main(args: argparse.Namespace) -> None:
    server = args.server.rstrip("/")
    if args.database:
        await measure(f"{server}/{args.database}")
        return
    name = f"yixiang_bench_{uuid.uuid4().hex[:8]}"
    url = f"{server}/{name}"
    admin = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://") + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    keep = args.keep or args.fill_only
    try:
        await fill(url, args)
        if not args.fill_only:
            await measure(url)
    finally:
        if keep:
            print(f"kept: {name} (time it again with --database {name}; drop it when done)")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", default="postgresql+asyncpg://postgres@127.0.0.1:5432")
    parser.add_argument("--instruments", type=int, default=100_000)
    parser.add_argument("--bookings", type=int, default=10_000_000)
    parser.add_argument("--sensors", type=int, default=10_000, help="instruments with a sensor and a roll-up")
    parser.add_argument("--keep", action="store_true", help="keep the database (to look at the plans)")
    parser.add_argument("--fill-only", action="store_true", help="fill and keep the database, time nothing")
    parser.add_argument("--database", help="time against this database, kept from an earlier fill")
    asyncio.run(main(parser.parse_args()))
