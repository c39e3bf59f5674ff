"""Where one API process's memory goes, step by step (issue 25 goal 3).

One process, the app in it (no HTTP server: httpx's ASGI transport), settings from the
environment as ``yixiang serve`` reads them. RSS (VmRSS from /proc) after each step:

    import      ``import yixiang.app``
    app         ``create_app()``
    started     the lifespan has run (migrations checked, search warmed, gc frozen, trimmed)
    first       one search
    searches    N searches of the day's mix (bench/search_mix.py), one at a time
    details     N/4 instrument details of the instruments the searches found

    YIXIANG_DATA_DIR=/tmp/bench-sqlite uv run python -m bench.memory_steps --searches 4000
    YIXIANG_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/bench_search \\
        YIXIANG_REDIS_URL=redis://127.0.0.1:6379/0 uv run python -m bench.memory_steps
    # and the biggest allocations still held at the end (tracemalloc: slower, more memory)
    YIXIANG_DATA_DIR=/tmp/bench-sqlite uv run python -m bench.memory_steps --top 25
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
import tracemalloc

# As bench.load gives its server (importing it here would count its imports in the first step)
LIMITS = {
    "YIXIANG_RATE_LIMIT_SIGN_IN_PER_MINUTE": "1000000",
    "YIXIANG_RATE_LIMIT_SEARCH_PER_MINUTE": "1000000",
}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def step(name: str, started: float) -> None:
    traced = ""
    if tracemalloc.is_tracing():
        traced = f"  python {tracemalloc.get_traced_memory()[0] / 2**20:6.1f} MB"
    print(f"{name:<10} RSS {rss_mb():6.1f} MB{traced}  ({time.perf_counter() - started:5.1f} s)", flush=True)


async def main(searches: int, top: int) -> None:
    started = time.perf_counter()
    if top:
        tracemalloc.start(8)
    os.environ.update({k: v for k, v in LIMITS.items() if k not in os.environ})
    step("start", started)
    import httpx

    from yixiang.unimported import UNUSED_BY_THE_API, unimportable

    with unimportable(*UNUSED_BY_THE_API):  # as yixiang.asgi builds the app ``yixiang serve`` runs
        from yixiang.app import create_app

        step("import", started)
        app = create_app()
        step("app", started)
    from bench.search_mix import zipf_requests  # its imports are the app's by now

    requests = zipf_requests(searches)
    async with app.lifespan():
        step("started", started)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            r = await client.post("/api/v1/auth/dev-login", json={"username": "demo-researcher"})
            r.raise_for_status()
            headers = {"authorization": f"Bearer {r.json()['token']}"}
            ids: list[str] = []
            for i, request in enumerate(requests):
                params = {
                    k: str(v).lower() if isinstance(v, bool) else str(v)
                    for k, v in vars(request).items()
                    if v is not None and v != ""
                }
                r = await client.get("/api/v1/instruments/search", params=params, headers=headers)
                r.raise_for_status()
                if len(ids) < searches // 4:
                    ids.extend(item["id"] for item in r.json()["items"][:1])
                if i == 0:
                    step("first", started)
            step("searches", started)
            for instrument in ids:
                r = await client.get(f"/api/v1/instruments/{instrument}", headers=headers)
                r.raise_for_status()
            step("details", started)
        gc.collect()
        if top:
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
            )
            print(f"\nbiggest allocations held (traceback of {top}):")
            for stat in snapshot.statistics("lineno")[:top]:
                print(f"{stat.size / 2**20:7.2f} MB {stat.count:8d} blocks  {stat.traceback[0]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--searches", type=int, default=4000)
    parser.add_argument("--top", type=int, default=0, help="list the N biggest allocations (tracemalloc)")
    args = parser.parse_args()
    asyncio.run(main(args.searches, args.top))
