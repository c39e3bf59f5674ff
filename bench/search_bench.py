"""Search latency and throughput of the database backend over the generated catalogue.

    uv run python -m bench.search_bench --rate 200 --seconds 20            # SQLite (YIXIANG_DATA_DIR)
    YIXIANG_DATABASE_URL=postgresql+asyncpg://... uv run python -m bench.search_bench

Two measurements, in one process, through the same service the HTTP handler calls
(``search.service.search``: validation, backend query, facets, presentation):

- open loop: requests start on a fixed schedule (``--rate`` per second) whatever the latency,
  so queueing shows in p50/p99 as it would for users (latency counts from the planned start;
  ``--warmup`` seconds at the same rate first, unmeasured, so the pool has grown as a running
  server's has);
- closed loop: ``--concurrency`` workers back to back, for the maximum throughput.

Two query mixes (``--mix``):

- ``fixed``: 19 queries in turn — two-character Chinese words, abbreviations, model numbers, a
  typo, city and voucher filters, browsing without text, sorting by price and distance. Every
  query is broad or hard; run it with ``--cache 0`` to measure the engine alone (with the cache
  every request after the first round is remembered).
- ``zipf``: what a day of researchers' searches looks like (``bench/search_mix.py``): thousands
  of distinct requests over the instrument vocabulary, popular words far more often than rare
  ones, with filters, later pages and distance sorts from the searcher's own position.

``--cache N`` sets how many answers the engine remembers (``YIXIANG_SEARCH_CACHE_ENTRIES``; the
default is the product's); the hit ratio is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import statistics
import time

from bench.search_mix import zipf_requests
from search.database import CACHE_ENTRIES, DatabaseSearch
from search.service import SearchRequest, search
from yixiang.db import create_engine, create_session_maker, transaction
from yixiang.settings import load_settings

QUERIES = [
    SearchRequest(q="核磁"),
    SearchRequest(q="NMR"),
    SearchRequest(q="nmr 600"),
    SearchRequest(q="电镜", region="330100"),
    SearchRequest(q="扫描电镜", voucher=True),
    SearchRequest(q="质谱"),
    SearchRequest(q="ICP-MS"),
    SearchRequest(q="XRD", sort=None, region="330200"),
    SearchRequest(q="SmartLav"),
    SearchRequest(q="GeminiSEM"),
    SearchRequest(q="流式细胞仪"),
    SearchRequest(q="拉曼", sort=None, price_max=50_000),
    SearchRequest(q="热重"),
    SearchRequest(q="激光共聚焦"),
    SearchRequest(region="330300", voucher=True),
    SearchRequest(category="0101", region="330000"),
    SearchRequest(q="液相", lat=30.27, lng=120.15, sort=None),
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values):.1f} ms, p95 {percentile(values, 95):.1f} ms, "
        f"p99 {percentile(values, 99):.1f} ms"
    )


def failed(failures: list[str]) -> str:
    """`, N failed (kinds)` once, then forgets them (latencies above include the failures)."""
    if not failures:
        return ""
    kinds = ", ".join(f"{kind} x{failures.count(kind)}" for kind in sorted(set(failures)))
    note = f", {len(failures)} FAILED ({kinds})"
    failures.clear()
    return note


def describe(request: SearchRequest) -> str:
    return " ".join(f"{k}={v}" for k, v in vars(request).items() if v not in (None, "", 20))


async def main(
    rate: float,
    seconds: float,
    concurrency: int,
    per_query: bool,
    warmup: float,
    freeze_gc: bool = False,
    mix: str = "fixed",
    cache: int = CACHE_ENTRIES,
) -> None:
    settings = load_settings()
    engine = create_engine(settings.effective_database_url, pool_size=20)
    sessions = create_session_maker(engine)
    backend = DatabaseSearch(cache)
    from search.backend import Sort

    if mix == "zipf":
        # Enough distinct requests for every phase (warm-up, open and closed loop) to draw anew.
        queries = zipf_requests(int(rate * (warmup + seconds * 2)) + 20_000)
        per_query = False
    else:
        queries = [
            *QUERIES,
            SearchRequest(q="电镜", sort=Sort.price),
            SearchRequest(q="质谱", lat=29.87, lng=121.54, sort=Sort.distance),
        ]

    failures: list[str] = []

    async def one(request: SearchRequest, planned: float | None = None) -> float:
        started = time.perf_counter() if planned is None else planned
        try:
            # As the HTTP handler does: a read-only transaction (deferred BEGIN on SQLite).
            async with sessions() as session, transaction(session, read_only=True):
                await search(session, backend, request)
        except Exception as exc:  # an overloaded run reports its failures instead of stopping
            failures.append(type(exc).__name__)
        took = (time.perf_counter() - started) * 1000
        by_query.setdefault(request, []).append(took)
        return took

    by_query: dict[SearchRequest, list[float]] = {}
    for request in queries[:200]:  # warm up caches and check the queries work
        await one(request)
    if failures:
        raise SystemExit(f"warm-up failed: {failures}")
    by_query.clear()
    async with sessions() as session:
        page = await search(session, backend, SearchRequest())
    print(
        f"database: {settings.effective_database_url.split('://')[0]}, searchable instruments: {page.total}, "
        f"mix: {mix} ({len(set(queries))} distinct requests), answers remembered: {cache}"
    )
    requests = iter(itertools.cycle(queries))

    def remembered() -> str:
        """The share of searches answered from memory since the last call."""
        answers = backend.answers
        total = answers.hits + answers.misses
        share = f", answered from memory: {answers.hits / total:.0%}" if total else ""
        answers.hits = answers.misses = 0
        return share

    async def open_loop(duration: float) -> tuple[list[float], float]:
        """Requests at their planned times; latency counts from the planned time, so a late
        start (the loop busy) counts as waiting, as it would for a user. Finished tasks are let
        go, as a server lets finished requests go (thousands kept alive made the collector's
        full passes, which pause everything, come sooner and take longer)."""
        pending: set[asyncio.Task[float]] = set()
        latencies: list[float] = []

        def finished(task: asyncio.Task[float]) -> None:
            pending.discard(task)
            latencies.append(task.result())

        start = time.perf_counter()
        for n in range(int(rate * duration)):
            planned = start + n / rate
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(next(requests), planned))
            pending.add(task)
            task.add_done_callback(finished)
        while pending:
            await asyncio.wait(set(pending))
        return latencies, time.perf_counter() - start

    if warmup:  # the pool grows to what the rate needs, as a running server's has
        await open_loop(warmup)
        print(f"warm-up {warmup:.0f}s at {rate:.0f} req/s" + failed(failures) + remembered())
        by_query.clear()
    if freeze_gc:
        # What a server can do once started: the ~110,000 objects of its imports (Litestar,
        # SQLAlchemy, jieba, ...) leave the collector's care; else each full collection pauses
        # the event loop, and every request in flight, for 30-50 ms.
        gc.collect()
        gc.freeze()
        print(f"gc.freeze(): {gc.get_freeze_count()} objects")
    latencies, elapsed = await open_loop(seconds)
    print(
        f"open loop {rate:.0f} req/s for {seconds:.0f}s: {len(latencies)} requests, achieved "
        f"{len(latencies) / elapsed:.0f} req/s, {summary(latencies)}, max {max(latencies):.1f} ms"
        + failed(failures)
        + remembered()
    )
    if per_query:
        for request, values in sorted(by_query.items(), key=lambda kv: -percentile(kv[1], 99)):
            print(f"  {summary(values)}  {describe(request)}")
    by_query.clear()

    # closed loop
    done: list[float] = []
    stop_at = time.perf_counter() + seconds / 2

    async def worker() -> None:
        for request in requests:
            if time.perf_counter() > stop_at:
                return
            done.append(await one(request))

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    took = time.perf_counter() - began
    print(
        f"closed loop, {concurrency} concurrent: {len(done) / took:.0f} req/s, {summary(done)}"
        + failed(failures)
        + remembered()
    )
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--per-query", action="store_true", help="open-loop latency of each query")
    parser.add_argument("--warmup", type=float, default=3, help="seconds at --rate before measuring")
    parser.add_argument(
        "--freeze-gc",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="gc.freeze() after the warm-up, as the server does once started (yixiang/app.py)",
    )
    parser.add_argument("--mix", choices=["fixed", "zipf"], default="fixed")
    parser.add_argument("--cache", type=int, default=CACHE_ENTRIES, help="answers remembered (0: none)")
    args = parser.parse_args()
    asyncio.run(
        main(
            args.rate,
            args.seconds,
            args.concurrency,
            args.per_query,
            args.warmup,
            args.freeze_gc,
            args.mix,
            args.cache,
        )
    )
