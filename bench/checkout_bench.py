"""Checkouts per second with voucher hold and capture on PostgreSQL.

One checkout = what booking does for one order: ``hold_voucher_share`` in the confirmation's
transaction, then ``capture_voucher_share`` with the final fee in the completion's transaction
(two transactions, each committed). N concurrent clients work through the orders of many firms
(each firm's grant rows are locked per checkout, so one firm's checkouts serialise by design);
``--firms 1`` measures the worst case, every client racing on one firm's balance.

    uv run python bench/checkout_bench.py                       # fresh database, dropped after
    uv run python bench/checkout_bench.py --firms 1 --checkouts 500

It creates a scratch database ``yixiang_bench_<random>`` on the server, migrates it, loads the
demo identities, a programme and one grant per firm, runs, checks the ledger, and drops it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import timedelta

import asyncpg

from vouchers.checkout import CheckoutOrder, capture_voucher_share, hold_voucher_share
from vouchers.grants import create_grant
from vouchers.ledger import check_ledger
from vouchers.programs import create_program
from vouchers.rules import shanghai_date
from vouchers.schemas import GrantIn, ProgramIn
from yixiang.auth import MembershipView, Principal
from yixiang.db import create_engine, create_session_maker, utcnow
from yixiang.demo import demo_id, load_identity
from yixiang.identity import Organization, OrgKind, Role
from yixiang.migrate import upgrade

BUREAU = Principal(
    user_id=demo_id("demo-science-bureau"),
    username="demo-science-bureau",
    display_name="科技局",
    memberships=(
        MembershipView(
            organization_id=demo_id("bureau-hz-sci"),
            organization_kind=OrgKind.bureau,
            organization_name="杭州市科学技术局",
            role=Role.bureau_officer,
            region_code="330100",
        ),
    ),
)


async def main(args: argparse.Namespace) -> None:
    server = args.server.rstrip("/")
    name = f"yixiang_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://") + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(f"{server}/{name}", pool_size=args.concurrency)
    try:
        await upgrade(engine)
        session_maker = create_session_maker(engine)
        today = shanghai_date(utcnow())
        firms = [uuid.uuid4() for _ in range(args.firms)]
        async with session_maker() as session, session.begin():
            await load_identity(session)
            for firm in firms:
                session.add(
                    Organization(
                        id=firm,
                        kind=OrgKind.enterprise,
                        name=f"压测企业{firm.hex[:6]}",
                        region_code="330100",
                        is_tech_sme=True,
                    )
                )
        async with session_maker() as session, session.begin():
            program = await create_program(
                session,
                BUREAU,
                ProgramIn(
                    name="压测批次",
                    year=today.year,
                    budget_fen=10**12,
                    coverage_bp=5000,
                    per_order_cap_fen=2_000_000,
                    per_firm_year_cap_fen=10**11,
                    valid_from=today - timedelta(days=1),
                    valid_until=today + timedelta(days=365),
                    accepted_region_codes=["330000"],
                    cross_region=True,
                ),
            )
            for firm in firms:
                await create_grant(
                    session,
                    BUREAU,
                    program.id,
                    GrantIn(enterprise_id=firm, amount_fen=10**9),
                    key=uuid.uuid4().hex,
                )

        unit = demo_id("unit-zjlg")
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(args.checkouts):
            queue.put_nowait(n)
        latencies: list[float] = []

        async def client() -> None:
            while True:
                try:
                    n = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                o = CheckoutOrder(
                    booking_id=uuid.uuid4(),
                    enterprise_id=firms[n % len(firms)],
                    unit_id=unit,
                    instrument_id=uuid.uuid4(),
                    region_code="330106",
                    category_code="0201",
                    voucher_eligible=True,
                    fee_fen=100_000 + n,
                    actor_id=None,
                )
                started = time.perf_counter()
                async with session_maker() as session, session.begin():
                    await hold_voucher_share(session, o)
                final = CheckoutOrder(**{**o.__dict__, "fee_fen": o.fee_fen + 20_000})
                async with session_maker() as session, session.begin():
                    await capture_voucher_share(session, final)
                latencies.append(time.perf_counter() - started)

        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(client() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started

        async with session_maker() as session:
            report = await check_ledger(session)
        latencies.sort()
        rate = args.checkouts / elapsed
        print(f"checkouts={args.checkouts} firms={args.firms} concurrency={args.concurrency}")
        print(f"elapsed={elapsed:.2f}s")
        print(f"checkouts/s={rate:.0f} (hold+capture = {2 * rate:.0f} voucher operations/s)")
        print(
            f"latency per checkout: p50={statistics.median(latencies) * 1000:.1f}ms "
            f"p95={latencies[int(0.95 * len(latencies)) - 1] * 1000:.1f}ms max={latencies[-1] * 1000:.1f}ms"
        )
        per = 1000 / args.checkouts
        print(f"client CPU per checkout={cpu * per:.2f}ms (of {elapsed * per:.2f}ms wall)")
        print(f"ledger check ok={report['ok']} entries={report['entries_checked']}")
        if not report["ok"]:
            raise SystemExit(f"ledger check failed: {report}")
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", default="postgresql+asyncpg://postgres@127.0.0.1:5432")
    parser.add_argument("--checkouts", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--firms", type=int, default=200)
    asyncio.run(main(parser.parse_args()))
