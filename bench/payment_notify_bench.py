"""WeChat Pay's payment notifications at a steady rate against the real server on PostgreSQL.

    uv run python bench/payment_notify_bench.py --wrk 2 --workers 2 --separate-worker   # production shape
    uv run python bench/payment_notify_bench.py --wrk 4                                  # one process
    uv run python bench/payment_notify_bench.py --rate 200 --seconds 30                  # Python open loop

The server (``yixiang serve``, one process, worker in-process, PostgreSQL + Redis on loopback)
runs with WeChat Pay enabled, its keys in files, the fake WeChat Pay server's public key as the
platform's. Before the run: ``--rate × --seconds`` completed bookings of a firm without vouchers
(so each owes its whole fee), each with an open payment order, and one notification per order
signed and encrypted as WeChat Pay does (RSA-SHA256 over timestamp, nonce and body; the
transaction AES-256-GCM-encrypted with the APIv3 key). ``--repeat`` of the requests (20% by
default) are a notification sent before, sent again, as WeChat Pay repeats them.

Two drivers. ``--wrk N``: wrk (C) keeps N notifications in flight (closed loop), taking the
pre-signed notifications from a file in turn; it costs the machine next to nothing. Without it,
an open model in Python (httpx): each request starts at its planned time (evenly spaced) whether
or not the earlier ones have answered, latency measured from the planned start; its own CPU and
its lag behind the plan are reported beside the figures (on 2 cores it takes half of one at
200/s, which the server then lacks).
After the run every order must be paid exactly once (one ledger entry each) and the ledger
check must pass; the Python loop's time (10^7 additions) is printed for the VM's speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select

from accounts.demo import demo_id
from accounts.models import Organization, OrgKind
from bench.load.driver import process_user_system_seconds, start_server, terminate
from tests.fakes.wechatpay import FakeWeChatPay, new_rsa_key, pem_private
from vouchers.checkout import CheckoutOrder, capture_voucher_share
from vouchers.ledger import check_ledger
from vouchers.models import EntryKind, JournalEntry, PaymentChannel, PaymentOrder, PaymentOrderStatus
from yixiang.db import create_engine, create_session_maker, utcnow

MCHID, SUB_MCHID, APPID = "1900000109", "1900000201", "wx5f3c9a7e2d1b0a00"
LOOP = "n = 0\nfor i in range(10_000_000):\n    n += i"
FIRM = uuid.uuid4()  # a firm of its own without vouchers: each booking owes its whole fee
UNIT = demo_id("unit-zjlg")


def python_loop_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", LOOP], check=True)
    return time.perf_counter() - started


def key_files(fake: FakeWeChatPay, merchant_key: object, directory: Path) -> dict[str, str]:
    (directory / "merchant.pem").write_bytes(pem_private(merchant_key))  # type: ignore[arg-type]
    (directory / "apiv3.key").write_bytes(fake.apiv3_key)
    (directory / "platform.pem").write_bytes(fake.platform_public_pem)
    return {
        "YIXIANG_WECHATPAY_ENABLED": "true",
        "YIXIANG_WECHATPAY_BASE_URL": fake.base_url,
        "YIXIANG_WECHATPAY_MCHID": MCHID,
        "YIXIANG_WECHATPAY_APPID": APPID,
        "YIXIANG_WECHATPAY_MERCHANT_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "YIXIANG_WECHATPAY_PRIVATE_KEY_FILE": str(directory / "merchant.pem"),
        "YIXIANG_WECHATPAY_APIV3_KEY_FILE": str(directory / "apiv3.key"),
        "YIXIANG_WECHATPAY_PLATFORM_PUBLIC_KEY_FILE": str(directory / "platform.pem"),
        "YIXIANG_WECHATPAY_PLATFORM_PUBLIC_KEY_ID": fake.platform_key_id,
        "YIXIANG_WECHATPAY_NOTIFY_URL": "https://yixiang.example.cn/api/v1/wechatpay/notifications",
        "YIXIANG_WECHATPAY_SUB_MCHIDS": json.dumps({str(UNIT): SUB_MCHID}),
    }


async def open_orders(database_url: str, count: int) -> list[str]:
    """``count`` completed bookings owing 100 元 each, each with an open payment order."""
    engine = create_engine(database_url, pool_size=8)
    session_maker = create_session_maker(engine)
    numbers: list[str] = []
    try:
        async with session_maker() as session, session.begin():
            session.add(Organization(id=FIRM, kind=OrgKind.enterprise, name="压测企业", region_code="330100"))
        for start in range(0, count, 500):
            async with session_maker() as session, session.begin():
                for n in range(start, min(count, start + 500)):
                    booking_id = uuid.uuid4()
                    number = f"YXBENCH-{n:06d}"
                    await capture_voucher_share(
                        session,
                        CheckoutOrder(
                            booking_id=booking_id,
                            enterprise_id=FIRM,
                            unit_id=UNIT,
                            instrument_id=uuid.uuid4(),
                            region_code="330100",
                            category_code="0201",
                            voucher_eligible=True,
                            fee_fen=10_000,
                            actor_id=None,
                            booking_number=number,
                        ),
                    )
                    now = utcnow()
                    session.add(
                        PaymentOrder(
                            out_trade_no=f"{number}-01",
                            booking_id=booking_id,
                            enterprise_id=FIRM,
                            unit_id=UNIT,
                            amount_fen=10_000,
                            channel=PaymentChannel.native,
                            status=PaymentOrderStatus.open,
                            mchid=MCHID,
                            sub_mchid=SUB_MCHID,
                            code_url=f"weixin://wxpay/bizpayurl?pr={secrets.token_hex(4)}",
                            created_at=now,
                            expires_at=now + timedelta(hours=2),
                        )
                    )
                    numbers.append(f"{number}-01")
    finally:
        await engine.dispose()
    return numbers


def notifications(fake: FakeWeChatPay, orders: list[str]) -> list[tuple[dict[str, str], bytes]]:
    signed = []
    for out_trade_no in orders:
        resource = {
            "sp_mchid": MCHID,
            "sub_mchid": SUB_MCHID,
            "sp_appid": APPID,
            "out_trade_no": out_trade_no,
            "transaction_id": f"4200{secrets.randbelow(10**24):024d}",
            "trade_type": "NATIVE",
            "trade_state": "SUCCESS",
            "success_time": datetime.now(UTC).isoformat(timespec="seconds"),
            "amount": {"total": 10_000, "payer_total": 10_000, "currency": "CNY"},
        }
        signed.append(fake.notification("TRANSACTION.SUCCESS", "transaction", resource, summary="支付成功"))
    return signed


@dataclass
class Run:
    sent: int
    seconds: float
    statuses: dict[int, int]
    errors: list[str]
    p50: float
    p95: float
    p99: float
    max: float
    lag_p99: float
    driver_cpu: float


async def drive(url: str, plan: list[tuple[dict[str, str], bytes]], rate: float) -> Run:
    latencies: list[float] = []
    lags: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        began = time.perf_counter() + 0.2

        async def one(index: int, headers: dict[str, str], body: bytes) -> None:
            planned = began + index / rate
            await asyncio.sleep(max(0.0, planned - time.perf_counter()))
            lags.append(time.perf_counter() - planned)
            try:
                response = await client.post("/api/v1/wechatpay/notifications", content=body, headers=headers)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code != 204 and len(errors) < 3:
                    errors.append(f"{response.status_code}: {response.text[:300]}")
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                statuses[0] = statuses.get(0, 0) + 1  # no answer
                return
            latencies.append(time.perf_counter() - planned)

        cpu_before = time.process_time()
        await asyncio.gather(*(one(i, h, b) for i, (h, b) in enumerate(plan)))
        driver_cpu = time.process_time() - cpu_before
        elapsed = time.perf_counter() - began
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")

    return Run(
        sent=len(plan),
        seconds=elapsed,
        statuses=statuses,
        errors=errors,
        p50=pct(0.50),
        p95=pct(0.95),
        p99=pct(0.99),
        max=1000 * ordered[-1] if ordered else float("nan"),
        lag_p99=1000 * sorted(lags)[int(0.99 * (len(lags) - 1))] if lags else 0.0,
        driver_cpu=driver_cpu,
    )


WRK_SCRIPT = r"""
-- Written by bench/payment_notify_bench.py: each request is the next signed notification.
local threads = {}
setup = function(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
init = function(args)
  n = 0
  statuses = {}
  notes = {}
  for line in io.lines("%(file)s") do
    local ts, nonce, serial, signature, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    table.insert(notes, {ts = ts, nonce = nonce, serial = serial, signature = signature, body = body})
  end
end
request = function()
  local k = n * %(threads)d + id
  n = n + 1
  local note = notes[(k %% #notes) + 1]
  return wrk.format("POST", "/api/v1/wechatpay/notifications", {
    ["Content-Type"] = "application/json",
    ["Wechatpay-Timestamp"] = note.ts,
    ["Wechatpay-Nonce"] = note.nonce,
    ["Wechatpay-Serial"] = note.serial,
    ["Wechatpay-Signature"] = note.signature,
  }, note.body)
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  local totals, parts = {}, {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + count
    end
  end
  for status, count in pairs(totals) do
    table.insert(parts, '"' .. status .. '":' .. count)
  end
  io.write(string.format(
    'BENCH {"requests":%%d,"seconds":%%f,"p50":%%d,"p95":%%d,"p99":%%d,"max":%%d,"errors":%%d,'
      .. '"statuses":{%%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    table.concat(parts, ",")))
end
"""


def drive_wrk(url: str, plan: list[tuple[dict[str, str], bytes]], connections: int, seconds: float) -> Run:
    """wrk (C, closed loop: ``connections`` requests in flight) posts the plan's notifications in
    turn for ``seconds``; its CPU is the children's CPU of this process."""
    with tempfile.TemporaryDirectory(prefix="yixiang-pay-wrk-") as directory:
        notes = Path(directory) / "notes.tsv"
        notes.write_text(
            "".join(
                "\t".join(
                    [
                        h["Wechatpay-Timestamp"],
                        h["Wechatpay-Nonce"],
                        h["Wechatpay-Serial"],
                        h["Wechatpay-Signature"],
                        body.decode(),
                    ]
                )
                + "\n"
                for h, body in plan
            )
        )
        script = Path(directory) / "notify.lua"
        script.write_text(WRK_SCRIPT % {"file": str(notes), "threads": 2})
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        output = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in output.splitlines() if x.startswith("BENCH "))
    found = json.loads(line[len("BENCH ") :])
    return Run(
        sent=found["requests"],
        seconds=found["seconds"],
        statuses={int(k): v for k, v in found["statuses"].items()},
        errors=[f"{found['errors']} socket errors"] if found["errors"] else [],
        p50=found["p50"] / 1000,
        p95=found["p95"] / 1000,
        p99=found["p99"] / 1000,
        max=found["max"] / 1000,
        lag_p99=0.0,
        driver_cpu=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    )


async def paid_once(database_url: str, orders: list[str]) -> tuple[int, int, bool]:
    engine = create_engine(database_url, pool_size=2)
    session_maker = create_session_maker(engine)
    try:
        async with session_maker() as session:
            paid = await session.scalar(
                select(func.count()).where(
                    PaymentOrder.out_trade_no.in_(orders), PaymentOrder.status == PaymentOrderStatus.paid
                )
            )
            entries = await session.scalar(select(func.count()).where(JournalEntry.kind == EntryKind.payment))
            ledger = await check_ledger(session)
        return int(paid or 0), int(entries or 0), bool(ledger["ok"])
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--repeat", type=float, default=0.2, help="share of requests that repeat one")
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--wrk",
        type=int,
        metavar="CONNECTIONS",
        default=0,
        help="drive with wrk (closed loop, this many in flight) instead of the Python open-loop driver",
    )
    parser.add_argument("--workers", type=int, default=1, help="API processes")
    parser.add_argument("--separate-worker", action="store_true", help="the outbox worker in its own process")
    args = parser.parse_args()

    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    merchant_key = new_rsa_key()
    fake = FakeWeChatPay(mchid=MCHID, merchant_public_key=merchant_key.public_key())
    fake.start()
    total = int(args.rate * args.seconds)
    fresh = int(total * (1 - args.repeat))
    with tempfile.TemporaryDirectory(prefix="yixiang-pay-bench-") as keys:
        env = key_files(fake, merchant_key, Path(keys))
        if args.separate_worker:
            env["YIXIANG_WORKER_IN_PROCESS"] = "false"
        with start_server(
            "postgres", args.workers, args.database_url, "redis://127.0.0.1:6379/0", extra_env=env
        ) as server:
            worker = (
                subprocess.Popen([sys.executable, "-m", "yixiang.cli", "worker"], env=server.env)
                if args.separate_worker
                else None
            )
            assert server.database_url is not None
            warm_orders = asyncio.run(open_orders(server.database_url, 200 + fresh))
            warm, orders = warm_orders[:200], warm_orders[200:]
            asyncio.run(drive(server.url, notifications(fake, warm), 100))  # warm-up
            signed = notifications(fake, orders)
            rng = random.Random(7)
            plan = list(signed)
            plan += [rng.choice(signed) for _ in range(total - fresh)]  # WeChat Pay repeating itself
            rng.shuffle(plan)
            user_before, system_before = process_user_system_seconds(server.pid)
            if args.wrk:
                result = drive_wrk(server.url, plan, args.wrk, args.seconds)
            else:
                result = asyncio.run(drive(server.url, plan, args.rate))
            user_after, system_after = process_user_system_seconds(server.pid)
            paid, entries, ledger_ok = asyncio.run(paid_once(server.database_url, warm_orders))
            if worker is not None:
                terminate(worker)
    fake.stop()
    loop = python_loop_seconds()
    cpu = (user_after - user_before) + (system_after - system_before)
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, python {platform.python_version()}")
    print(f"# python loop (10^7 additions): {loop:.2f} s; load average before the run: {load_before}")
    outbox = "outbox worker in its own process" if args.separate_worker else "outbox worker in-process"
    driver = (
        f"wrk, {args.wrk} in flight (closed loop)"
        if args.wrk
        else f"Python driver, {args.rate:g}/s open loop"
    )
    print(
        f"# server: uvicorn, {args.workers} process(es), {outbox}, PostgreSQL + Redis; {driver},"
        f" {args.seconds:g} s, {args.repeat:.0%} of the plan repeats"
    )
    print(
        "| notifications | rate/s | p50 ms | p95 ms | p99 ms | max ms | answers"
        " | server CPU ms/notification | driver CPU s | driver lag p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {result.sent} | {result.sent / result.seconds:.0f} | {result.p50:.1f} | {result.p95:.1f}"
        f" | {result.p99:.1f} | {result.max:.1f} | {result.statuses} | {1000 * cpu / result.sent:.2f}"
        f" | {result.driver_cpu:.1f} | {result.lag_p99:.1f} |"
    )
    ledger = "ok" if ledger_ok else "FAILED"
    print(f"orders paid {paid}/{len(warm_orders)}, payment entries {entries}, ledger check {ledger}")
    rate = result.sent / result.seconds
    met = result.p99 < 50 and rate >= 200
    print(f"goal p99 < 50 ms at 200/s: {'met' if met else 'NOT met'} ({rate:.0f}/s, p99 {result.p99:.1f} ms)")
    # wrk's closed loop may not reach every order in the time given; each one it reached is paid once
    everyone = len(warm_orders) if not args.wrk else paid
    if (
        paid != entries
        or entries != everyone
        or not ledger_ok
        or result.errors
        or set(result.statuses) != {204}
    ):
        raise SystemExit(
            f"not every notification was applied exactly once: {result.statuses}, {result.errors[:5]}"
        )


if __name__ == "__main__":
    main()
