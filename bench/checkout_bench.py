"""Checkouts per second with voucher hold and capture on PostgreSQL.

One checkout = what booking does for one order: ``hold_voucher_share`` in the confirmation's
transaction, then ``capture_voucher_share`` with the final fee in the completion's transaction
(two transactions, each committed). N concurrent clients work through the orders of many firms
(each firm's grant rows are locked per checkout, so one firm's checkouts serialise by design);
``--firms 1`` measures the worst case, every client racing on one firm's balance.

    uv run python bench/checkout_bench.py                       # fresh database, dropped after
    uv run python bench/checkout_bench.py --firms 1 --checkouts 500
    uv run python bench/checkout_bench.py --processes 2        # two API replicas

It creates a scratch database ``yixiang_bench_<random>`` on the server, migrates it, loads the
demo identities, a programme and one grant per firm, runs, checks the ledger, and drops it.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
import uuid
from datetime import timedelta

import asyncpg

try:  # the event loop the server runs on (uvicorn picks uvloop when it is installed)
    from uvloop import run as run_loop
except ImportError:  # pragma: no cover
    from asyncio import run as run_loop

from accounts.auth import MembershipView, Principal
from accounts.demo import demo_id, load_accounts_demo
from accounts.models import Organization, OrgKind, Role
from vouchers.checkout import CheckoutOrder, capture_voucher_share, hold_voucher_share
from vouchers.grants import create_grant
from vouchers.ledger import check_ledger
from vouchers.programs import create_program
from vouchers.schemas import GrantIn, ProgramIn
from yixiang.clock import shanghai_date
from yixiang.db import create_engine, create_session_maker, utcnow
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


def run_clients(
    url: str, firms: list[uuid.UUID], checkouts: int, concurrency: int
) -> tuple[list[float], float]:
    """One replica: ``concurrency`` clients doing ``checkouts`` checkouts; (latencies, CPU seconds)."""
    return run_loop(_clients(url, firms, checkouts, concurrency))


async def _clients(
    url: str, firms: list[uuid.UUID], checkouts: int, concurrency: int
) -> tuple[list[float], float]:
    engine = create_engine(url, pool_size=concurrency)
    session_maker = create_session_maker(engine)
    unit = demo_id("unit-zjlg")
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(checkouts):
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
            async with session_maker() as session, session.begin():  # booking's confirm
                await hold_voucher_share(session, o)
            final = CheckoutOrder(**{**o.__dict__, "fee_fen": o.fee_fen + 20_000})
            async with session_maker() as session, session.begin():  # booking's complete
                await capture_voucher_share(session, final)
            latencies.append(time.perf_counter() - started)

    # warm up (connections, statement caches) before the clock starts
    async with session_maker() as session, session.begin():
        await hold_voucher_share(
            session,
            CheckoutOrder(uuid.uuid4(), firms[0], unit, uuid.uuid4(), "330106", "0201", True, 1, None),
        )
    cpu_started, started = time.process_time(), time.time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    cpu, ended = time.process_time() - cpu_started, time.time()
    await engine.dispose()
    return latencies, cpu, started, ended


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
            await load_accounts_demo(session)
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

        # Each process is one API replica with its own engine and pool; they share the firms.
        with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
            results = pool.starmap(
                run_clients,
                [
                    (
                        f"{server}/{name}",
                        firms[p :: args.processes],
                        args.checkouts // args.processes,
                        args.concurrency,
                    )
                    for p in range(args.processes)
                ],
            )
        # from the first replica's start to the last one's end (process start-up not counted)
        elapsed = max(r[3] for r in results) - min(r[2] for r in results)
        latencies = sorted(lat for r in results for lat in r[0])
        cpu = sum(r[1] for r in results)
        done = len(latencies)

        async with session_maker() as session:
            report = await check_ledger(session)
        rate = done / elapsed
        print(
            f"checkouts={done} firms={args.firms} processes={args.processes} "
            f"concurrency={args.concurrency} per process"
        )
        print(f"elapsed={elapsed:.2f}s")
        print(f"checkouts/s={rate:.0f} (hold+capture = {2 * rate:.0f} voucher operations/s)")
        print(
            f"latency per checkout: p50={statistics.median(latencies) * 1000:.1f}ms "
            f"p95={latencies[int(0.95 * len(latencies)) - 1] * 1000:.1f}ms max={latencies[-1] * 1000:.1f}ms"
        )
        print(f"client CPU per checkout={cpu * 1000 / done:.2f}ms")
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
    parser.add_argument("--processes", type=int, default=1, help="client processes (API replicas)")
    run_loop(main(parser.parse_args()))
