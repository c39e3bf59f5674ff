"""CPU per search of the day's mix: instructions in the app (callgrind) and PostgreSQL's CPU time.

    uv run python bench/search_instructions.py --searches 300
    uv run python bench/search_instructions.py --searches 300 --no-valgrind   # CPU ms, no counting

Instructions do not drift with this VM's speed (bench/booking_instructions.py says why). The app
serves the 100,000 generated instruments (``bench_search``, see bench/README.md) in this process,
under ``valgrind --tool=callgrind`` with instrumentation off while it starts, signs in, puts
sensors on 150 instruments (the live-status facet counts over them, as in the
load bench's mix) and answers ``--warm-up`` searches; then instrumentation is switched on for
``--searches`` searches of the day's mix (``bench/search_mix.py``, as wrk_mix sends them: with a
researcher's bearer token, one at a time) through the whole ASGI app — middleware, sign-in,
handler, answer — and the count is divided by them. Remembered answers are reused as in a
running process (its cache warmed by the warm-up). Rate limits count in Redis.

PostgreSQL's own work is another process: the CPU time (utime + stime) of the server processes
serving this app's connections, read from /proc before and after the counted searches.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.booking_bench import in_process_settings
from bench.booking_instructions import asgi_call, instructions_counted
from bench.search_mix import zipf_requests
from bench.sensor_ingest_bench import python_loop_seconds
from oversight.models import Sensor, SensorStatus
from oversight.sensors import register_sensor
from search.database import DatabaseSearch
from search.dependencies import SEARCH_BACKEND
from search.models import SearchDocumentRow
from yixiang.app import create_app

SENSORS = 150


def search_path(request: Any) -> str:
    params = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in vars(request).items()
        if v is not None and v != ""
    }
    return "/api/v1/instruments/search?" + urllib.parse.urlencode(params)


def _socket_ports(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:  # the listing's own descriptor, closed by now
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def place_sensors(session_maker: Any, secret_key: str) -> int:
    """Sensors on the first ``SENSORS`` indexed instruments (by id: spread over every kind and
    city), the same each run; those already there are left as they are."""
    async with session_maker() as session:
        ids = (
            await session.scalars(
                select(SearchDocumentRow.instrument_id)
                .order_by(SearchDocumentRow.instrument_id)
                .limit(SENSORS)
            )
        ).all()
        for n, instrument_id in enumerate(ids):
            sensor_id = f"S-SEARCH-{n:03d}"
            sensor = await session.get(Sensor, sensor_id)
            if sensor is None or sensor.status != SensorStatus.active:
                await register_sensor(
                    session, None, sensor_id=sensor_id, instrument_id=instrument_id, secret_key=secret_key
                )
        return len(ids)


async def serve_searches(args: argparse.Namespace) -> None:
    warm_up, searches = args.warm_up, args.searches
    settings = in_process_settings(
        args.database_url,
        data_dir=tempfile.mkdtemp(prefix="yixiang-search-instructions-"),
        redis_url=args.redis_url,
        redis_prefix=f"yixiang-search-instructions-{uuid.uuid4().hex[:8]}:",
        rate_limit_search_per_minute=10_000_000,
        demo_data=False,  # the shared data set is used as it is (its sensors apart)
        **({"search_cache_entries": args.cache_entries} if args.cache_entries is not None else {}),
        **({"search_shared_cache_seconds": args.shared_seconds} if args.shared_seconds is not None else {}),
    )
    app = create_app(settings)
    async with app.lifespan():

        async def call(
            method: str, path: str, headers: list[tuple[bytes, bytes]], body: Any = None
        ) -> tuple[int, bytes]:
            return await asgi_call(app, method, path, headers, body)

        async def bearer(username: str) -> list[tuple[bytes, bytes]]:
            _, body = await call("POST", "/api/v1/auth/dev-login", [], {"username": username})
            return [(b"authorization", f"Bearer {json.loads(body)['token']}".encode())]

        placed = await place_sensors(app.state.session_maker, settings.secret_key)
        researcher = await bearer("demo-researcher")
        work = [search_path(r) for r in zipf_requests(warm_up + searches, seed=25)]
        if args.again:  # the counted searches repeat the warm-up's: every answer remembered
            work = work[:warm_up] + work[:warm_up][:searches]
        backend: DatabaseSearch = app.state.runtime.services[SEARCH_BACKEND]
        ports: set[int] = set()
        pg_pids: list[int] = []
        cpu_before = 0.0
        for n, path in enumerate(work):
            if n == warm_up:
                ports = _socket_ports(os.getpid())
                async with app.state.engine.connect() as conn:
                    rows = await conn.exec_driver_sql(
                        "SELECT pid, client_port FROM pg_stat_activity WHERE datname = current_database()"
                    )
                    pg_pids = [pid for pid, port in rows if port in ports]
                cpu_before = _cpu_seconds(pg_pids)
                backend.answers.hits = backend.answers.misses = 0  # the counted searches' only
                if backend.shared is not None:
                    backend.shared.hits = backend.shared.misses = 0
                if not args.no_wait:
                    # Counting starts here: the parent switches callgrind's instrumentation on.
                    print("READY", flush=True)
                    await asyncio.to_thread(sys.stdin.readline)
                started = time.process_time()
            status, body = await call("GET", path, researcher)
            if status != 200:
                raise SystemExit(f"search refused: {path} {status} {body[:300]!r}")
        app_ms = (time.process_time() - started) * 1000 / searches
        pg_ms = (_cpu_seconds(pg_pids) - cpu_before) * 1000 / searches
        print(
            f"PG {pg_ms:.2f} ms PostgreSQL CPU per search ({len(pg_pids)} backends); "
            f"app {app_ms:.2f} ms CPU per search; sensors {placed}; {remembered(backend)}",
            flush=True,
        )


def remembered(backend: DatabaseSearch) -> str:
    """How often the counted searches found their answer remembered (pages, counts and live-status
    ids alike), and what the remembered answers hold: their bytes and their keys' (deep size);
    with Redis, how many more were found there."""
    answers = backend.answers
    looked = answers.hits + answers.misses
    shared = backend.shared
    in_redis = f"; in Redis: {shared.hits / looked if looked else 0:.0%} more" if shared is not None else ""
    entries = list(answers._answers.items())
    values = sum(len(v) for _, v in entries)
    seen: set[int] = set()  # what keys share (the database's URL) counts once
    keys = sum(_deep_size(k, seen) for k, _ in entries)
    return (
        f"remembered: {answers.hits / looked if looked else 0:.0%} of {looked} looked up; "
        f"{len(entries)} kept, {values / 1024:.0f} kB of answers + {keys / 1024:.0f} kB of keys{in_redis}"
    )


def _deep_size(value: Any, seen: set[int]) -> int:
    if id(value) in seen or isinstance(value, type):
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, tuple | list | frozenset | set):
        size += sum(_deep_size(v, seen) for v in value)
    elif hasattr(value, "__struct_fields__"):
        size += sum(_deep_size(getattr(value, f), seen) for f in value.__struct_fields__)
    return size


def count(args: argparse.Namespace) -> None:
    command = [sys.executable, __file__, "--child", "--database-url", args.database_url]
    command += [
        "--redis-url",
        args.redis_url,
        "--warm-up",
        str(args.warm_up),
        "--searches",
        str(args.searches),
    ]
    if args.cache_entries is not None:
        command += ["--cache-entries", str(args.cache_entries)]
    if args.shared_seconds is not None:
        command += ["--shared-seconds", str(args.shared_seconds)]
    if args.again:
        command += ["--again"]
    loop = python_loop_seconds()
    load = os.getloadavg()[0]
    if not args.valgrind:
        subprocess.run([*command, "--no-wait"], check=True)
        print(f"(load {load:.2f}, loop of 10^7 additions {loop:.2f} s)")
        return
    collected, printed = instructions_counted(command)
    pg = re.search(r"PG ([\d.]+) ms", printed)
    print(
        f"{collected // args.searches:,} instructions per search ({args.searches} of the day's mix); "
        f"PostgreSQL {pg.group(1) if pg else '?'} ms CPU per search "
        f"(load {load:.2f}, loop of 10^7 additions {loop:.2f} s)"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/bench_search")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--warm-up", type=int, default=300)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--no-valgrind", dest="valgrind", action="store_false")
    parser.add_argument("--cache-entries", type=int, help="answers remembered (default: the setting's)")
    parser.add_argument("--shared-seconds", type=int, help="answers shared in Redis (default: the setting's)")
    parser.add_argument(
        "--again",
        action="store_true",
        help="count the warm-up's first searches again (a remembered answer's cost; --searches <= --warm-up)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-wait", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if not arguments.child:
        count(arguments)
    else:
        import uvloop

        uvloop.run(serve_searches(arguments))
