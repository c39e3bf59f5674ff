"""Latency of the published yearly report's public reads (统计年报; goal: the page under 200 ms p99):
the phone page, its JSON and one CSV table, against a running server, over loopback.

    uv run yixiang serve --port 8000          # the demo publishes 杭州's 2025 report at its first start
    uv run python bench/yearly_report_bench.py --url http://127.0.0.1:8000 --requests 600 --clients 4

Closed loop: ``--clients`` requests in flight at a time, each client sending its next request when
the last is answered; latency is from sending to the last byte. Prints the date, the machine, the
load average before the run and the time of a fixed Python loop (the VM's speed drifts) beside the
figures. Results go to BENCHMARKS.md (section "Yearly report").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from datetime import UTC, datetime

import httpx


def python_loop_seconds() -> float:
    start = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - start


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def measure(client: httpx.AsyncClient, path: str, requests: int, clients: int) -> list[float]:
    times: list[float] = []
    left = iter(range(requests))

    async def one_client() -> None:
        for _ in left:
            start = time.perf_counter()
            r = await client.get(path)
            times.append((time.perf_counter() - start) * 1000)
            assert r.status_code == 200, f"{path}: {r.status_code}"

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return times


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--region", default="330100")
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    loop = python_loop_seconds()
    paths = {
        "page": f"/reports/yearly/{args.region}/{args.year}",
        "json": f"/api/v1/public/yearly-reports/{args.region}/{args.year}",
        "csv": f"/api/v1/public/yearly-reports/{args.region}/{args.year}/tables/top-units.csv",
    }
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} CPU {platform.machine()} · "
        f"Python {platform.python_version()} · load average {load:.1f} · "
        f"Python loop (10^7 additions) {loop:.2f} s"
    )
    print(f"{args.requests} requests each, {args.clients} in flight")
    print("| read | p50 ms | p95 ms | p99 ms | max ms | req/s |")
    print("|---|---|---|---|---|---|")
    async with httpx.AsyncClient(base_url=args.url, timeout=30) as client:
        for name, path in paths.items():
            await measure(client, path, 20, 1)  # warm
            started = time.perf_counter()
            times = await measure(client, path, args.requests, args.clients)
            elapsed = time.perf_counter() - started
            print(
                f"| {name} | {statistics.median(times):.1f} | {percentile(times, 0.95):.1f} | "
                f"{percentile(times, 0.99):.1f} | {max(times):.1f} | {len(times) / elapsed:.0f} |"
            )


if __name__ == "__main__":
    asyncio.run(main())
