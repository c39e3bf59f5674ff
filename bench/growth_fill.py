"""Years of history in a PostgreSQL database, written by the server itself (issue 25 goal 4).

    createdb growth && export YIXIANG_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/growth
    uv run yixiang db upgrade && uv run yixiang demo load
    uv run python -m bench.growth_fill --scale 0.1 --years 3

Scale 1.0 is the goal's size: 10 million past bookings, 5 million ledger lines and 50 million
sensor readings. Every row is made by ``INSERT ... SELECT`` over ``generate_series`` on the
server (no row passes through Python), consistent with the schema and with itself:

- firms (tech SMEs of the first demo programme's region) with researchers, beside the demo ones;
- past bookings, spread over the published instruments, the researchers (so their firms) and
  the days of the period, 09:00-17:00 Shanghai; all in finished states, so none holds a slot;
- a closed voucher programme per past year; each firm a grant in each year it booked with
  vouchers; every seventh booking paid a share by voucher: its hold and capture entries (two lines
  each, grant → hold → receivable), its captured checkout, the booking's voucher and due amounts;
  every balance cache set to the sum of its lines, so ``ledger/check`` finds nothing;
- sensors on part of the instruments, one reading every interval over the whole period (on
  09:00-17:00 Shanghai, standby otherwise), one usage session a day from those readings, and the
  daily roll-up of those sessions.

Run it once per database: the rows it adds are marked (``growth-`` keys, names and sensor ids)
but a second run adds a second history. Prints what it added and how long each step took.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FULL_BOOKINGS = 10_000_000
FULL_LEDGER_LINES = 5_000_000
FULL_READINGS = 50_000_000
FULL_FIRMS = 2_000
RESEARCHERS_PER_FIRM = 3
VOUCHER_EVERY = 7  # one booking in seven paid a share by voucher: 4 lines each (~5.3M at 1.0)
FULL_SENSORS = 1_000


@dataclass(frozen=True)
class Plan:
    bookings: int
    firms: int
    sensors: int
    readings: int
    years: int

    @classmethod
    def of(cls, scale: float, years: int) -> Plan:
        return cls(
            bookings=max(100, round(FULL_BOOKINGS * scale)),
            firms=max(2, round(FULL_FIRMS * scale)),
            sensors=max(2, round(FULL_SENSORS * scale)),
            readings=max(100, round(FULL_READINGS * scale)),
            years=years,
        )


def plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


# Each step's SQL is formatted with the plan's figures (integers this script computes).
FIRMS = """
WITH region AS (SELECT region_code FROM voucher_programs ORDER BY created_at, id LIMIT 1),
firms AS (
    INSERT INTO organizations (id, kind, name, region_code, is_tech_sme, created_at, updated_at)
    SELECT gen_random_uuid(), 'enterprise', 'growth-企业' || g, region.region_code, true,
           now() - make_interval(years => {years}), now()
    FROM generate_series(1, {firms}) g, region
    RETURNING id
), people AS (
    INSERT INTO users (id, username, display_name, is_active, token_version, created_at, updated_at)
    SELECT gen_random_uuid(), 'growth-' || firms.id || '-' || r, '研究员' || r, true, 0, now(), now()
    FROM firms, generate_series(1, {per_firm}) r
    RETURNING id, username
)
INSERT INTO memberships (id, user_id, organization_id, role, created_at)
-- the username is growth-<firm>-<n>
SELECT gen_random_uuid(), people.id, substr(people.username, 8, 36)::uuid, 'researcher', now()
FROM people
"""

PICKS = """
CREATE TEMP TABLE g_instruments AS
SELECT row_number() OVER (ORDER BY i.id) AS n, i.id, i.unit_id, i.region_code, i.category_code
FROM instruments i
WHERE i.status = 'in_service' AND i.publication = 'published';
CREATE TEMP TABLE g_people AS
SELECT row_number() OVER (ORDER BY m.user_id) AS n, m.user_id, m.organization_id AS enterprise_id
FROM memberships m JOIN organizations o ON o.id = m.organization_id
WHERE m.role = 'researcher' AND o.kind = 'enterprise';
ANALYZE g_instruments; ANALYZE g_people;
"""

# Day d of the period (0 = the oldest), hour h (09..16 Shanghai = 01..08 UTC), one to three hours.
BOOKINGS = """
CREATE TEMP TABLE g_bookings AS
SELECT g, gen_random_uuid() AS id, i.id AS instrument_id, i.unit_id, p.user_id, p.enterprise_id,
       date_trunc('day', now()) - make_interval(days => (2 + (g * 7919) % ({years} * 365))::int)
         + make_interval(hours => (1 + (g * 31) % 8)::int) AS start_at,
       (1 + (g * 13) % 3)::int AS hours,
       CASE WHEN g % 20 = 0 THEN 'cancelled' WHEN g % 50 = 1 THEN 'no_show'
            WHEN g % 3 = 0 THEN 'rated' ELSE 'completed' END AS status,
       10000 * (1 + (g * 17) % 40) AS fee_fen
FROM generate_series(1::bigint, {bookings}) g
-- hashed picks: no pattern in g (which decides the status and the voucher) repeats in them
JOIN g_instruments i ON i.n = 1 + abs(hashint4(g::int)::bigint) % (SELECT count(*) FROM g_instruments)
JOIN g_people p ON p.n = 1 + abs(hashint4(g::int + 1000000000)::bigint) % (SELECT count(*) FROM g_people);
INSERT INTO bookings (
    id, number, instrument_id, unit_id, enterprise_id, user_id, mode, operation, start_at, end_at,
    block_end, status, note, rate, quoted_fee_fen, fee_breakdown, final_fee_fen, due_fen,
    actual_start, actual_end, actual_source, created_at, updated_at)
SELECT id,
       'YX' || to_char((start_at - interval '3 days') AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD')
            || '-' || lpad(upper(to_hex(g)), 6, '0'),
       instrument_id, unit_id, enterprise_id, user_id, 'machine_time', 'operator', start_at,
       start_at + make_interval(hours => hours), start_at + make_interval(hours => hours), status,
       '', 'external', fee_fen, '{{}}'::jsonb,
       CASE WHEN status IN ('completed', 'rated') THEN fee_fen END,
       CASE WHEN status IN ('completed', 'rated') THEN fee_fen END,
       CASE WHEN status IN ('completed', 'rated') THEN start_at END,
       CASE WHEN status IN ('completed', 'rated') THEN start_at + make_interval(hours => hours) END,
       CASE WHEN status IN ('completed', 'rated') THEN 'booking' END,
       start_at - interval '3 days', start_at + make_interval(hours => hours)
FROM g_bookings;
"""

# One closed programme per past year, issued by the first demo programme's bureau.
PROGRAMS = """
CREATE TEMP TABLE g_voucher AS
SELECT b.id AS booking_id, b.g, b.enterprise_id, b.unit_id, b.instrument_id, b.user_id,
       b.fee_fen / 2 AS voucher_fen, b.fee_fen, b.start_at,
       extract(year FROM b.start_at AT TIME ZONE 'Asia/Shanghai')::int AS year
FROM g_bookings b
WHERE b.status IN ('completed', 'rated') AND b.g % {voucher_every} = 0;
CREATE TEMP TABLE g_programs AS
SELECT y.year, gen_random_uuid() AS id, p.bureau_id, p.region_code
FROM (SELECT DISTINCT year FROM g_voucher) y,
     (SELECT bureau_id, region_code FROM voucher_programs ORDER BY created_at, id LIMIT 1) p;
INSERT INTO voucher_programs (
    id, bureau_id, region_code, name, year, budget_fen, coverage_bp, per_order_cap_fen,
    per_firm_year_cap_fen, valid_from, valid_until, requires_tech_sme, accepted_region_codes,
    cross_region, accepted_unit_ids, accepted_category_codes, status, closed_at, created_at, updated_at)
SELECT g.id, g.bureau_id, g.region_code, 'growth-' || g.year || '年度科技创新券', g.year,
       (SELECT sum(voucher_fen) FROM g_voucher v WHERE v.year = g.year), 5000, 100000000, 1000000000,
       make_date(g.year, 1, 1), make_date(g.year, 12, 31), true, '[]', true, '[]', '[]', 'closed',
       make_date(g.year + 1, 1, 1), make_date(g.year, 1, 1), now()
FROM g_programs g;
CREATE TEMP TABLE g_grants AS
SELECT gen_random_uuid() AS id, v.enterprise_id, p.id AS program_id, v.year, sum(v.voucher_fen) AS amount_fen
FROM g_voucher v JOIN g_programs p USING (year)
GROUP BY v.enterprise_id, p.id, v.year;
INSERT INTO voucher_grants (id, program_id, enterprise_id, amount_fen, expires_on, status, note, key,
                            created_at, expired_at)
SELECT id, program_id, enterprise_id, amount_fen, make_date(year, 12, 31), 'expired', '',
       'growth-grant:' || id, make_date(year, 1, 1), make_date(year + 1, 1, 1)
FROM g_grants;
"""

ACCOUNTS = """
INSERT INTO ledger_accounts (code, kind, program_id, may_go_negative, balance_fen, created_at)
SELECT kind || ':' || id, kind, id, kind = 'funding', 0, make_date(year, 1, 1)
FROM g_programs, (VALUES ('funding'), ('budget')) k(kind);
INSERT INTO ledger_accounts (code, kind, program_id, grant_id, enterprise_id, may_go_negative, balance_fen,
                             created_at)
SELECT kind || ':' || id, kind, program_id, id, enterprise_id, false, 0, make_date(year, 1, 1)
FROM g_grants, (VALUES ('grant'), ('hold')) k(kind);
INSERT INTO ledger_accounts (code, kind, program_id, unit_id, may_go_negative, balance_fen, created_at)
SELECT DISTINCT 'receivable:' || p.id || ':' || v.unit_id, 'receivable', p.id, v.unit_id, false, 0,
       make_date(p.year, 1, 1)
FROM g_voucher v JOIN g_programs p USING (year);
"""

# Entries: the programme's funding, each grant, each booking's hold and capture. Lines in pairs.
ENTRIES = """
CREATE TEMP TABLE g_entries AS
SELECT gen_random_uuid() AS id, 'funding' AS kind, p.id AS program_id, NULL::uuid AS grant_id,
       NULL::uuid AS booking_id, make_date(p.year, 1, 1)::timestamptz AS at,
       'funding:' || p.id AS debit, 'budget:' || p.id AS credit,
       (SELECT sum(amount_fen) FROM g_grants g WHERE g.program_id = p.id) AS amount_fen
FROM g_programs p
UNION ALL
SELECT gen_random_uuid(), 'grant', g.program_id, g.id, NULL, make_date(g.year, 1, 2)::timestamptz,
       'budget:' || g.program_id, 'grant:' || g.id, g.amount_fen
FROM g_grants g
UNION ALL
SELECT gen_random_uuid(), e.kind, g.program_id, g.id, v.booking_id,
       CASE e.kind WHEN 'hold' THEN v.start_at - interval '3 days' ELSE v.start_at + interval '4 hours' END,
       CASE e.kind WHEN 'hold' THEN 'grant:' || g.id ELSE 'hold:' || g.id END,
       CASE e.kind WHEN 'hold' THEN 'hold:' || g.id
            ELSE 'receivable:' || g.program_id || ':' || v.unit_id END,
       v.voucher_fen
FROM g_voucher v
JOIN g_grants g ON g.enterprise_id = v.enterprise_id AND g.year = v.year,
     (VALUES ('hold'), ('capture')) e(kind);
INSERT INTO journal_entries (id, key, kind, program_id, grant_id, booking_id, reason, created_at)
SELECT id, 'growth-' || kind || ':' || coalesce(booking_id, grant_id, program_id), kind, program_id,
       grant_id, booking_id, '', at
FROM g_entries;
INSERT INTO journal_lines (entry_id, account_code, amount_fen, created_at)
SELECT id, debit, -amount_fen, at FROM g_entries
UNION ALL
SELECT id, credit, amount_fen, at FROM g_entries;
"""

CHECKOUTS = """
INSERT INTO voucher_checkouts (
    booking_id, booking_number, enterprise_id, unit_id, instrument_id, region_code, category_code,
    program_id, state, usage_year, quoted_fee_fen, held_fen, fee_fen, voucher_fen, refunded_fen,
    due_fen, paid_fen, cash_refunded_fen, payment_method, payment_reference, held_at, captured_at,
    release_reason, updated_at, booked_by)
SELECT v.booking_id, b.number, v.enterprise_id, v.unit_id, v.instrument_id, i.region_code,
       coalesce(i.category_code, ''), p.id, 'captured', v.year, v.fee_fen, 0, v.fee_fen, v.voucher_fen, 0,
       0, v.fee_fen - v.voucher_fen, 0, 'corporate_transfer', '', v.start_at - interval '3 days',
       v.start_at + interval '4 hours', '', v.start_at + interval '4 hours', v.user_id
FROM g_voucher v
JOIN bookings b ON b.id = v.booking_id
JOIN g_instruments i ON i.id = v.instrument_id
JOIN g_programs p USING (year);
UPDATE bookings b SET voucher_fen = v.voucher_fen, due_fen = v.fee_fen - v.voucher_fen
FROM g_voucher v WHERE b.id = v.booking_id;
UPDATE ledger_accounts a SET balance_fen = s.total
FROM (SELECT l.account_code, sum(l.amount_fen) AS total FROM journal_lines l
      JOIN g_entries e ON e.id = l.entry_id GROUP BY l.account_code) s
WHERE a.code = s.account_code AND a.kind IN ('budget', 'grant', 'hold');
"""

# Sensors on instruments that have none; readings every `interval` seconds over the period.
SENSORS = """
CREATE TEMP TABLE g_sensors AS
SELECT 'growth-' || row_number() OVER (ORDER BY i.id) AS id, i.id AS instrument_id, i.unit_id
FROM g_instruments i
WHERE NOT EXISTS (SELECT 1 FROM oversight_sensors s WHERE s.instrument_id = i.id)
ORDER BY i.id LIMIT {sensors};
INSERT INTO oversight_sensors (id, instrument_id, unit_id, status, secret_sealed, firmware, installed_at,
                               last_seen_at)
SELECT id, instrument_id, unit_id, 'active', '\\x00'::bytea, 'growth',
       now() - make_interval(years => {years}),
       now() - interval '1 minute'
FROM g_sensors;
"""
READINGS = """
INSERT INTO oversight_readings (sensor_id, seq, instrument_id, read_at, state, watts, received_at)
SELECT s.id, r.seq, s.instrument_id, r.at,
       CASE WHEN extract(hour FROM r.at AT TIME ZONE 'UTC') BETWEEN 1 AND 8 THEN 'on' ELSE 'standby' END,
       CASE WHEN extract(hour FROM r.at AT TIME ZONE 'UTC') BETWEEN 1 AND 8 THEN 800 ELSE 10 END,
       r.at
FROM g_sensors s,
     LATERAL (SELECT seq, date_trunc('day', now()) - make_interval(years => {years})
                          + make_interval(secs => seq * {interval}) AS at
              FROM generate_series(1, {per_sensor}) seq) r
"""
SESSIONS = """
INSERT INTO oversight_usage_sessions (id, instrument_id, start_at, end_at, energy_j, source, counted,
                                      reason, annotation_note, created_at)
SELECT gen_random_uuid(), s.instrument_id, d + interval '1 hour', d + interval '9 hours',
       800 * 8 * 3600, 'sensor', true, '', '', d + interval '9 hours'
FROM g_sensors s,
     generate_series(date_trunc('day', now()) - make_interval(years => {years}),
                     date_trunc('day', now()) - interval '1 day',
                     interval '1 day') d;
INSERT INTO oversight_usage_daily (instrument_id, day, source, effective_seconds, external_seconds,
                                   internal_seconds, booked_seconds, updated_at)
SELECT u.instrument_id, (u.start_at AT TIME ZONE 'Asia/Shanghai')::date, 'sensor',
       sum(extract(epoch FROM u.end_at - u.start_at))::int, 0, 0, 0, now()
FROM oversight_usage_sessions u JOIN g_sensors s ON s.instrument_id = u.instrument_id
GROUP BY 1, 2
ON CONFLICT DO NOTHING;
"""


async def fill(url: str, plan: Plan, out: Callable[[str], None] = print) -> dict[str, int]:
    conn = await asyncpg.connect(plain(url))
    try:
        started = time.perf_counter()

        async def step(name: str, sql: str, **figures: object) -> None:
            t = time.perf_counter()
            await conn.execute(sql.format(**figures))
            out(f"{name}: {time.perf_counter() - t:.1f} s")

        # All or nothing: a step that fails leaves the database as it was.
        transaction = conn.transaction()
        await transaction.start()
        await step(
            "firms and researchers", FIRMS, firms=plan.firms, years=plan.years, per_firm=RESEARCHERS_PER_FIRM
        )
        await step("picks", PICKS)
        await step("bookings", BOOKINGS, bookings=plan.bookings, years=plan.years)
        await step("programmes and grants", PROGRAMS, voucher_every=VOUCHER_EVERY)
        await step("ledger accounts", ACCOUNTS)
        await step("journal", ENTRIES)
        await step("checkouts and balances", CHECKOUTS)
        await step("sensors", SENSORS, sensors=plan.sensors, years=plan.years)
        sensors = await conn.fetchval("SELECT count(*) FROM g_sensors")
        per_sensor = max(1, plan.readings // max(1, sensors))
        interval = plan.years * 365 * 86400 // per_sensor
        await step("readings", READINGS, per_sensor=per_sensor, years=plan.years, interval=interval)
        await step("usage sessions and roll-ups", SESSIONS, years=plan.years)
        await transaction.commit()
        await step("analyze", "ANALYZE")
        counts = {
            "bookings": await conn.fetchval("SELECT count(*) FROM g_bookings"),
            "ledger_lines": 2 * await conn.fetchval("SELECT count(*) FROM g_entries"),
            "readings": sensors * per_sensor,
            "sensors": sensors,
        }
        out(f"added {counts} in {time.perf_counter() - started:.0f} s")
        return counts
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("YIXIANG_DATABASE_URL", ""))
    parser.add_argument("--scale", type=float, default=0.1, help="1.0 = the goal's counts")
    parser.add_argument("--years", type=int, default=3)
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("a PostgreSQL --database-url (or YIXIANG_DATABASE_URL) is needed")
    asyncio.run(fill(args.database_url, Plan.of(args.scale, args.years)))


if __name__ == "__main__":
    main()
