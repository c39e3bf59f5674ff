"""Open arrival-rate load driver: a realistic request mix against a running yixiang server.

    uv run python -m bench.load --start embedded --workers 1 --rate 300 --seconds 20
    uv run python -m bench.load --start postgres --workers 2 --rate 300 --seconds 20
    uv run python -m bench.load --url http://127.0.0.1:8000 --server-pid 1234 --rate 100
    uv run python -m bench.load --start embedded --smoke

Open model: a scheduler starts every request at its planned time (Poisson arrivals at
``--rate``) whether or not earlier ones have answered, and latency is completion minus the
*planned* start, so a slow server cannot hide its latency by slowing the driver down.

Mix: 75% search (a day's searches: ``bench/search_mix.py``, ~10,000 distinct requests with
their filters, sorts and pages), 10% instrument detail, 7% availability (a week), 5% booking create (+ cancel
when it succeeds, reported as its own row), 3% WeChat webhook (signed, AES-encrypted text
message with the demo credentials). 409 and 400 answers on booking are expected outcomes
(slot taken, calendar rule) and are counted apart from errors; errors are 5xx and transport
failures. The server's RSS is the sum of VmRSS over its process tree, sampled every second.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from bench.load.firms import researcher
from bench.load.server_metrics import Scrape, ServerFigures, peaks_of, scrape
from bench.search_mix import zipf_requests
from bot.settings import DEMO_AES_KEY, DEMO_APP_ID, DEMO_TOKEN
from tests.bot.wechat_client import aes_encrypt, sha1_sign, text_xml

QUERIES = [
    "核磁",
    "NMR",
    "电镜",
    "质谱",
    "XRD",
    "扫描电镜 杭州",
    "ICP-MS",
    "激光共聚焦",
    "流式",
    "热重",
    "液相色谱",
    "透射电镜",
    "X射线衍射",
    "红外光谱",
    "拉曼",
    "气相色谱 宁波",
    "原子力显微镜",
    "比表面积",
    "粒度",
    "紫外",
]
BOT_TEXTS = ["核磁 杭州", "找电镜", "质谱", "帮助", "XRD 宁波", "我的预约"]
MIX = [("search", 75), ("detail", 10), ("availability", 7), ("booking", 5), ("bot", 3)]
ROUTES = ["search", "detail", "availability", "booking.create", "booking.cancel", "bot"]
# every route either driver reports, in the order its tables list them (bench/load/wrk_mix.py)
TABLE_ORDER = [
    "search",
    "detail",
    "availability",
    "quote",
    "booking.create",
    "booking.approve",
    "booking.cancel",
    "bot",
    "readings",
]
CST = timezone(timedelta(hours=8))
RATE_ENV = {
    "YIXIANG_RATE_LIMIT_SIGN_IN_PER_MINUTE": "1000000",
    "YIXIANG_RATE_LIMIT_SEARCH_PER_MINUTE": "1000000",
    "YIXIANG_RATE_LIMIT_BOOKING_PER_MINUTE": "1000000",
    "YIXIANG_MAX_OPEN_REQUESTS_PER_INSTRUMENT": "1000000",
}


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds, requests the server took on
    refused: list[float] = field(default_factory=list)  # seconds, refused by admission (503/429)
    ok: int = 0
    expected_4xx: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    other_4xx: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    errors: int = 0  # 5xx + transport
    error_samples: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.latencies) + len(self.refused)


@dataclass
class Sample:
    """The server side at one moment of a run: CPU seconds so far, the outbox worker's lag."""

    at: float  # seconds from the run's start
    api_cpu_s: float  # the API processes' tree
    worker_cpu_s: float  # the outbox worker (0 when it runs in the API process)
    database_cpu_s: float  # PostgreSQL's backends of the server's database, and Redis
    outbox_lag_s: float | None
    other_database_cpu_s: float = 0.0  # PostgreSQL's other processes: autovacuum, checkpointer, …
    loop_s: float | None = None  # the VM's speed then: python_loop_seconds(tenth=True), now and then


@dataclass
class Result:
    stats: dict[str, Stats]
    seconds: float
    planned: int
    rate: float
    rss_peak_mb: float | None
    rss_end_mb: float | None
    max_lag_ms: float  # how late the scheduler started a request (driver overload)
    server: ServerFigures | None = None  # from the server's /metrics, when it answers them
    driver_cpu_s: float = 0.0  # the driver's own CPU over the run (it shares the machine)
    phases: list[tuple[float, float]] = field(default_factory=list)  # (rate, seconds) in order
    # every request: (planned start from the run's start, latency, "ok" | "refused" | "error", route)
    log: list[tuple[float, float, str, str]] = field(default_factory=list)
    server_cpu_s: float | None = None  # the server's process tree's CPU over the run
    database_cpu_s: float | None = None  # PostgreSQL's and Redis's processes' CPU over the run
    by_kind: dict[str, int] = field(default_factory=dict)  # requests answered, by kind of the mix
    driver: str = ""  # what drove the load, when not this module's scheduler
    samples: list[Sample] = field(default_factory=list)  # once a second, when the driver takes them

    @property
    def total_errors(self) -> int:
        return sum(s.errors for s in self.stats.values())


# --- server process ---------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """Every process below pid (uvicorn's workers and theirs), from /proc."""
    found: list[int] = []
    stack = [pid]
    while stack:
        try:
            for task in Path(f"/proc/{stack.pop()}/task").iterdir():
                children = [int(c) for c in (task / "children").read_text().split()]
                found.extend(c for c in children if c not in found)
                stack.extend(children)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def rss_tree_kb(pid: int) -> int:
    """Sum VmRSS (kB) of pid and all its descendants, from /proc."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


_TICK = os.sysconf("SC_CLK_TCK")


def _user_system_of(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of one process, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0.0, 0.0
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK  # fields 14 and 15 of stat(5)


def process_user_system_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds so far of pid and all its descendants (uvicorn's workers)."""
    times = [_user_system_of(p) for p in [pid, *descendants(pid)]]
    return sum(u for u, _ in times), sum(s for _, s in times)


def cpu_tree_s(pid: int) -> float:
    return sum(process_user_system_seconds(pid))


# A PostgreSQL backend's process title: "postgres: [cluster: ]user database client(port) state"
BACKEND_TITLE = re.compile(r"(\S+) (?:\[local\]|\S+\(\d+\))")


def database_cpu(database_url: str | None = None) -> dict[int, float]:
    """CPU seconds so far of Redis and of PostgreSQL: with ``database_url``, of that database's
    backends only (their process titles name it), so another database's work on the machine (a
    data fill, another bench) does not count, nor do the writers every database shares
    (checkpointer, WAL writer); without it, of every PostgreSQL process."""
    database = database_url.rpartition("/")[2] if database_url else None
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
                title = (entry / "cmdline").read_bytes().decode(errors="replace") if database else ""
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
            if name == "postgres" and database:
                backend = BACKEND_TITLE.search(title)
                if not backend or backend.group(1) != database:
                    continue
            if name in ("postgres", "redis-server"):
                found[int(entry.name)] = sum(_user_system_of(int(entry.name)))
    return found


def database_cpu_since(before: dict[int, float], database_url: str | None = None) -> float:
    """The CPU those processes spent since ``before``; a backend that ended meanwhile is missed."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in database_cpu(database_url).items())


def terminate(process: subprocess.Popen[bytes]) -> None:
    """End a child process: SIGTERM, then SIGKILL if it has not exited within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    pid: int
    database_url: str | None = None  # the fresh PostgreSQL database (None on the embedded default)
    env: dict[str, str] = field(default_factory=dict)  # the server's environment (for a worker beside it)
    stop: Callable[[], None] = lambda: None  # ends the server early, keeping its data until the exit


READY_SECONDS = 900


@contextmanager
def start_server(
    backend: str,
    workers: int,
    pg_url: str,
    redis_url: str,
    existing: str | None = None,
    extra_env: dict[str, str] | None = None,
    firms: int = 0,
) -> Iterator[Server]:
    """Start ``yixiang serve`` (fresh data dir, or a fresh PostgreSQL database + Redis prefix).

    ``existing`` names data to serve instead and keep (a data dir on the embedded default, a
    database name on PostgreSQL), e.g. the 100,000 instruments of ``bench.generate_instruments``.
    ``firms``: add that many firms, each with a researcher and a voucher grant (bench.load.firms).
    """
    port = _free_port()
    data_dir = existing if existing and backend == "embedded" else tempfile.mkdtemp(prefix="yixiang-load-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIXIANG_")}
    env |= {"YIXIANG_DATA_DIR": data_dir, "YIXIANG_LOG_LEVEL": "WARNING"} | RATE_ENV | (extra_env or {})
    database = None
    if backend == "postgres":
        import asyncpg

        database = existing or f"yixiang_load_{uuid.uuid4().hex[:10]}"
        base = pg_url.rpartition("/")[0]
        plain = base.replace("postgresql+asyncpg://", "postgresql://", 1) + "/postgres"
        env["YIXIANG_DATABASE_URL"] = f"{base}/{database}"
        env["YIXIANG_REDIS_URL"] = redis_url
        env["YIXIANG_REDIS_PREFIX"] = f"yixiang-load-{uuid.uuid4().hex[:8]}:"

        async def sql_in(dsn: str, statement: str) -> None:
            conn = await asyncpg.connect(dsn)
            await conn.execute(statement)
            await conn.close()

        async def sql(statement: str) -> None:
            await sql_in(plain, statement)

        if not existing:
            asyncio.run(sql(f'CREATE DATABASE "{database}"'))
    worker_apart = env.get("YIXIANG_WORKER_IN_PROCESS") == "false"
    if (workers > 1 and not existing) or firms or (worker_apart and not existing):
        # Migrate and load the demo data once before forking: workers loading it concurrently
        # on first start race (pk_regions unique violation) and uvicorn then stops the server.
        # (And without a worker in the server, the demo's search index is built here, at once.)
        commands = [["yixiang.cli", "db", "upgrade"], ["yixiang.cli", "demo", "load"]]
        if firms:
            commands.append(["bench.load.firms", "--count", str(firms)])
        for command in commands:
            subprocess.run([sys.executable, "-m", *command], env=env, check=True, stdout=subprocess.DEVNULL)
    if backend == "postgres" and existing:
        # A kept database's tables grew in earlier runs (bookings, ledger, readings): planner
        # statistics as a running database's autovacuum keeps them, not as of its first run (a
        # firm's ledger read planned on empty tables took 6 ms instead of 0.1 ms).
        served = f"{base}/{database}".replace("postgresql+asyncpg://", "postgresql://", 1)
        asyncio.run(sql_in(served, "ANALYZE"))
    log_path = Path(tempfile.mkdtemp(prefix="yixiang-load-log-")) / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "yixiang.cli", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    died = stopped = False

    def stop() -> None:
        nonlocal died, stopped
        if stopped:
            return
        stopped = True
        died = process.poll() is not None  # it ended on its own
        terminate(process)

    try:
        # Starting on the 100,000-instrument set can take minutes on a loaded machine (the search
        # index and the vocabulary are read before /ready answers)
        deadline = time.monotonic() + READY_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited:\n{log_path.read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.3)
        yield Server(url, process.pid, env.get("YIXIANG_DATABASE_URL"), env, stop)
    finally:
        stop()
        tail = log_path.read_text(errors="replace")[-3000:]
        if died or "Traceback" in tail or "died" in tail:
            print(f"<!-- server exited={died}; log tail:\n{tail}\n-->", file=sys.stderr)
        shutil.rmtree(log_path.parent, ignore_errors=True)
        if not existing:
            shutil.rmtree(data_dir, ignore_errors=True)
        if database and not existing:
            asyncio.run(sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


@contextmanager
def outbox_worker(server: Server, wanted: bool) -> Iterator[int | None]:
    """A `yixiang worker` beside the server, on its data (its pid), while the block runs."""
    if not wanted:
        yield None
        return
    from yixiang.heartbeat import heartbeat_path

    beat = heartbeat_path(server.env["YIXIANG_DATA_DIR"])
    beat.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "yixiang.cli", "worker"], env=server.env, stdout=subprocess.DEVNULL
    )
    try:
        # its loop has turned once: the start-up's CPU (imports, hooks) is not the load's
        deadline = time.monotonic() + READY_SECONDS
        while not beat.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the outbox worker did not start")
            time.sleep(0.2)
        yield process.pid
    finally:
        terminate(process)


# --- workload ---------------------------------------------------------------------------------


@dataclass
class Fixture:
    tokens: list[str]
    instrument_ids: list[str]
    slots: list[tuple[str, str, str]]  # (instrument_id, start, end): 1 h, calendar-open
    week_from: str
    week_to: str


DEMO_RESEARCHERS = ["demo-researcher", "demo-researcher-2"]


async def prepare(client: httpx.AsyncClient, researchers: list[str] | None = None) -> Fixture:
    """Sign in, collect instrument ids from searches and 1 h open slots on bookable ones."""
    tokens = []
    for username in researchers or DEMO_RESEARCHERS:
        r = await client.post("/api/v1/auth/dev-login", json={"username": username})
        r.raise_for_status()
        tokens.append(r.json()["token"])
    auth = {"authorization": f"Bearer {tokens[0]}"}
    ids: dict[str, list[str]] = {}
    for q in QUERIES:
        r = await client.get("/api/v1/instruments/search", params={"q": q, "limit": 20}, headers=auth)
        r.raise_for_status()
        for item in r.json()["items"]:
            ids[item["id"]] = item.get("modes", [])
    if not ids:
        raise RuntimeError("searches found no instruments")
    today = datetime.now(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = today + timedelta(days=7), today + timedelta(days=35)
    slots: list[tuple[str, str, str]] = []
    machine = [i for i, modes in ids.items() if "machine_time" in modes][:25]
    for iid in machine:
        r = await client.get(
            f"/api/v1/instruments/{iid}/availability",
            params={"from": start.isoformat(), "to": end.isoformat()},
            headers=auth,
        )
        if r.status_code != 200:
            continue
        free = r.json()["slots"]
        starts = {s["start"]: s["end"] for s in free}
        for s in free:  # two adjacent free slots make one hour
            nxt = starts.get(s["end"])
            if nxt and datetime.fromisoformat(s["start"]).minute == 0:
                slots.append((iid, s["start"], nxt))
    if not slots:
        raise RuntimeError("no bookable 1 h slots found")
    return Fixture(
        tokens,
        list(ids),
        slots,
        (today + timedelta(days=1)).isoformat(),
        (today + timedelta(days=8)).isoformat(),
    )


def is_refusal(response: httpx.Response) -> bool:
    """Admission control's answer to overload (yixiang.admission): at once, with a time to retry."""
    return response.status_code in (429, 503) and "retry-after" in response.headers


class Load:
    def __init__(self, client: httpx.AsyncClient, fx: Fixture, seed: int, connections: int = 256) -> None:
        self.client, self.fx, self.rnd = client, fx, random.Random(seed)
        self.searches = iter(zipf_requests(100_000, seed=seed))
        # Requests queue here (O(1)), never in httpcore's pool, whose assignment loop is
        # O(waiting × connections) and starves the driver under overload.
        self.gate = asyncio.Semaphore(connections)
        self.stats: dict[str, Stats] = {r: Stats() for r in ROUTES}
        self.openids = [f"oLoad{n:06d}" for n in range(200)]
        self.t0 = time.perf_counter()
        self.log: list[tuple[float, float, str, str]] = []

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.rnd.choice(self.fx.tokens)}"}

    def record(self, route: str, planned: float, response: httpx.Response | None, exc: str = "") -> None:
        st = self.stats[route]
        latency = time.perf_counter() - planned
        if response is not None and is_refusal(response):
            st.refused.append(latency)
            self.log.append((planned - self.t0, latency, "refused", route))
            return
        st.latencies.append(latency)
        failed = response is None or response.status_code >= 500
        self.log.append((planned - self.t0, latency, "error" if failed else "ok", route))
        if response is None:
            st.errors += 1
            if len(st.error_samples) < 3:
                st.error_samples.append(exc)
            return
        code = response.status_code
        if code >= 500:
            st.errors += 1
            if len(st.error_samples) < 3:
                st.error_samples.append(f"{code} {response.text[:200]}")
        elif code >= 400:
            expected = route == "booking.create" and code in (400, 409)
            (st.expected_4xx if expected else st.other_4xx)[code] += 1
        else:
            st.ok += 1

    async def call(
        self, route: str, planned: float, method: str, url: str, **kw: Any
    ) -> httpx.Response | None:
        try:
            async with self.gate:
                response = await self.client.request(method, url, **kw)
        except asyncio.CancelledError:
            self.record(route, planned, None, "unfinished at the grace deadline")
            raise
        except httpx.HTTPError as exc:
            self.record(route, planned, None, f"{type(exc).__name__}: {exc}")
            return None
        self.record(route, planned, response)
        return response

    async def one(self, kind: str, planned: float) -> None:
        rnd = self.rnd
        if kind == "search":
            request = next(self.searches)
            params = {
                k: str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in vars(request).items()
                if v is not None and v != ""
            }
            await self.call(
                "search", planned, "GET", "/api/v1/instruments/search", params=params, headers=self._headers()
            )
        elif kind == "detail":
            iid = rnd.choice(self.fx.instrument_ids)
            await self.call("detail", planned, "GET", f"/api/v1/instruments/{iid}", headers=self._headers())
        elif kind == "availability":
            iid = rnd.choice(self.fx.instrument_ids)
            await self.call(
                "availability",
                planned,
                "GET",
                f"/api/v1/instruments/{iid}/availability",
                params={"from": self.fx.week_from, "to": self.fx.week_to},
                headers=self._headers(),
            )
        elif kind == "booking":
            iid, start, end = rnd.choice(self.fx.slots)
            headers = self._headers()
            body = {
                "instrument_id": iid,
                "mode": "machine_time",
                "operation": "operator",
                "start": start,
                "end": end,
            }
            r = await self.call(
                "booking.create", planned, "POST", "/api/v1/bookings", json=body, headers=headers
            )
            if r is not None and r.status_code in (200, 201):
                booking_id = r.json()["id"]
                await self.call(
                    "booking.cancel",
                    time.perf_counter(),
                    "POST",
                    f"/api/v1/bookings/{booking_id}/cancel",
                    json={},
                    headers=headers,
                )
        else:
            params, body = bot_push(rnd, self.openids)
            await self.call(
                "bot", planned, "POST", "/wechat/official-account", params=params, content=body.encode()
            )


def bot_push(rnd: random.Random, openids: list[str]) -> tuple[dict[str, str], str]:
    """A WeChat push of a follower's text message, AES-encrypted and signed with the demo
    credentials: the query parameters and the body the official account's webhook takes."""
    ts, nonce = str(int(time.time())), os.urandom(6).hex()
    xml = text_xml(rnd.choice(openids), rnd.choice(BOT_TEXTS), rnd.randrange(10**12), int(ts))
    encrypt = aes_encrypt(DEMO_AES_KEY, DEMO_APP_ID, xml)
    params = {
        "signature": sha1_sign(DEMO_TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": sha1_sign(DEMO_TOKEN, ts, nonce, encrypt),
    }
    body = (
        "<xml><ToUserName><![CDATA[gh_yixiang_test]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    )
    return params, body


async def run_load(
    url: str,
    rate: float,
    seconds: float,
    server_pid: int | None = None,
    seed: int = 8,
    grace: float = 10.0,
    metrics_token: str | None = None,
    phases: list[tuple[float, float]] | None = None,
    researchers: list[str] | None = None,
    mix: list[tuple[str, int]] | None = None,
    fixture: Fixture | None = None,
    worker_pid: int | None = None,
    database_url: str | None = None,
) -> Result:
    """``rate`` arrivals/s for ``seconds``; or, given ``phases``, each (rate, seconds) in turn.
    Bookings are made by ``researchers`` in turn (default: the two demo researchers). ``mix``:
    (kind, weight) of the requests (default ``MIX``); ``fixture``: reuse another run's;
    ``worker_pid``: an outbox worker beside the server, whose CPU counts as the server's;
    ``database_url``: the server's PostgreSQL database (only its backends' CPU counts)."""
    phases = phases or [(rate, seconds)]
    mix = mix or MIX
    ends = list(itertools.accumulate(s for _, s in phases))
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        fx = fixture or await prepare(client, researchers)
        load = Load(client, fx, seed)
        rnd = random.Random(seed + 1)
        kinds = [k for k, _ in mix]
        weights = [w for _, w in mix]
        # warm-up: one of each, not counted
        warm = Load(client, fx, seed + 2)
        for k in kinds:
            await warm.one(k, time.perf_counter())
        serving = [p for p in (server_pid, worker_pid) if p]
        server_cpu0 = sum(map(cpu_tree_s, serving)) if server_pid else None
        database_cpu0 = database_cpu(database_url)

        rss: list[int] = []
        scrapes: list[Scrape] = []
        stop = asyncio.Event()
        first = await scrape(client, metrics_token)

        async def sample() -> None:
            while not stop.is_set():
                if server_pid:
                    rss.append(rss_tree_kb(server_pid))
                if first is not None and (now := await scrape(client, metrics_token)) is not None:
                    scrapes.append(now)
                try:
                    await asyncio.wait_for(stop.wait(), 1.0)
                except TimeoutError:
                    pass

        sampler = asyncio.create_task(sample())
        tasks: set[asyncio.Task[None]] = set()
        cpu0 = time.process_time()
        t0 = load.t0 = time.perf_counter()
        planned, n, max_lag, phase = t0, 0, 0.0, 0
        while True:
            planned += rnd.expovariate(phases[phase][0])
            while phase < len(phases) and planned - t0 >= ends[phase]:
                phase += 1
            if phase == len(phases):
                break
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            max_lag = max(max_lag, time.perf_counter() - planned)
            task = asyncio.create_task(load.one(rnd.choices(kinds, weights)[0], planned))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        if tasks:  # overload: whatever has not answered `grace` s after the last arrival fails
            _, pending = await asyncio.wait(set(tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        elapsed = time.perf_counter() - t0
        driver_cpu = time.process_time() - cpu0
        server_cpu = sum(map(cpu_tree_s, serving)) - server_cpu0 if server_cpu0 is not None else None
        database_cpu_s = database_cpu_since(database_cpu0, database_url)
        stop.set()
        await sampler
        last = await scrape(client, metrics_token) if first is not None else None
        server = ServerFigures(first, last, peaks_of([*scrapes, last])) if first and last else None
    return Result(
        load.stats,
        elapsed,
        n,
        rate,
        max(rss) / 1024 if rss else None,
        rss[-1] / 1024 if rss else None,
        max_lag * 1000,
        server,
        driver_cpu,
        phases,
        sorted(load.log),
        server_cpu,
        database_cpu_s,
    )


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))] * 1000


def markdown(result: Result, title: str) -> str:
    lines = [
        f"**{title}** — planned {result.rate:g} req/s × {result.seconds:.1f} s, "
        f"{result.planned} arrivals; server RSS peak "
        + (f"{result.rss_peak_mb:.0f} MB (end {result.rss_end_mb:.0f} MB)" if result.rss_peak_mb else "n/a")
        + (f"; {result.driver}" if result.driver else f"; max scheduler lag {result.max_lag_ms:.1f} ms")
        + f"; driver CPU {result.driver_cpu_s:.1f} s ({result.driver_cpu_s / result.seconds:.0%} of a core)"
        + _server_cpu(result),
        "",
        "| route | count | answered/s | p50 ms | p95 ms | p99 ms | errors (5xx/transport) "
        "| expected 4xx | other 4xx | refused (503/429) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    everything: list[float] = []
    for route in TABLE_ORDER:
        st = result.stats.get(route)
        if st is None or not st.count:
            continue
        everything += st.latencies
        lines.append(
            f"| {route} | {st.count} | {(len(st.latencies) - st.errors) / result.seconds:.1f} "
            f"| {_pct(st.latencies, 50):.1f} "
            f"| {_pct(st.latencies, 95):.1f} | {_pct(st.latencies, 99):.1f} | {st.errors} "
            f"| {_codes(st.expected_4xx)} | {_codes(st.other_4xx)} | {len(st.refused)} |"
        )
    total_err = result.total_errors
    refused = sum(len(st.refused) for st in result.stats.values())
    lines.append(
        f"| **all** | {len(everything) + refused} | {(len(everything) - total_err) / result.seconds:.1f} "
        f"| {_pct(everything, 50):.1f} "
        f"| {_pct(everything, 95):.1f} | {_pct(everything, 99):.1f} | {total_err} | | | {refused} |"
    )
    if len(result.phases) > 1:
        lines += ["", phases_markdown(result)]
    if result.server is not None:
        lines += ["", result.server.markdown(result.seconds)]
    samples = sorted({f"{r}: {s}" for r, st in result.stats.items() for s in st.error_samples})
    if samples:
        lines += ["", "Error samples:", *[f"- `{s}`" for s in samples]]
    return "\n".join(lines)


def answered(result: Result) -> int:
    return sum(len(st.latencies) for st in result.stats.values())


def _server_cpu(result: Result) -> str:
    n = answered(result)
    if result.server_cpu_s is None or not n:
        return ""
    app, db = result.server_cpu_s, result.database_cpu_s or 0.0
    return (
        f"; server CPU {app:.1f} s ({app / result.seconds:.0%} of a core), "
        f"{app / n * 1000:.2f} ms per answered request + PostgreSQL/Redis {db / n * 1000:.2f} ms"
    )


def phases_markdown(result: Result) -> str:
    """Per phase (by planned start): what the server took on and how fast, what it refused and
    how fast; and after the last step down, from which second on every second is normal again:
    nothing refused, p99 at most twice the first phase's (or 100 ms, if that is more)."""
    lines = [
        "| phase | planned req/s | arrivals | taken on /s | taken p50 / p99 ms | refused | refused p99 ms "
        "| errors (5xx/transport) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    start, normal = 0.0, 0.1
    for index, (rate, seconds) in enumerate(result.phases):
        rows = [r for r in result.log if start <= r[0] < start + seconds]
        taken = [r[1] for r in rows if r[2] != "refused"]
        refused = [r[1] for r in rows if r[2] == "refused"]
        errors = sum(1 for r in rows if r[2] == "error")
        lines.append(
            f"| {index + 1} | {rate:g} | {len(rows)} | {len(taken) / seconds:.1f} "
            f"| {_pct(taken, 50):.1f} / {_pct(taken, 99):.1f} | {len(refused)} | {_pct(refused, 99):.1f} "
            f"| {errors} |"
        )
        if index == 0:
            normal = max(normal, 2 * _pct(taken, 99) / 1000)
        start += seconds
    last_rate, last_seconds = result.phases[-1]
    if len(result.phases) > 1 and last_rate <= result.phases[-2][0]:
        begin = start - last_seconds
        windows = []
        for second in range(int(last_seconds)):
            rows = [r for r in result.log if begin + second <= r[0] < begin + second + 1]
            taken = [r[1] for r in rows if r[2] != "refused"]
            late = any(r[2] == "refused" for r in rows)
            windows.append(late or (bool(taken) and _pct(taken, 99) / 1000 > normal))
        abnormal = [i for i, bad in enumerate(windows) if bad]
        back = "at once" if not abnormal else f"after {abnormal[-1] + 1} s"
        if abnormal and abnormal[-1] == len(windows) - 1:
            back = f"not within the phase's {last_seconds:g} s"
        normal_ms = f"p99 ≤ {normal * 1000:.0f} ms, nothing refused"
        # --overload 1, no step at all: the rule's control (how often a steady load breaks it)
        step = "After the step down" if last_rate < result.phases[-2][0] else "In the last phase (no step)"
        lines += ["", f"{step}: back to normal ({normal_ms}) {back}."]
    return "\n".join(lines)


def timeline_markdown(result: Result) -> str:
    """Second by second (by planned start): what was taken on and refused, how fast all requests
    and searches were answered, and where the server's CPU went (from ``result.samples``)."""
    lines = [
        "| s | phase req/s | taken | refused | p50 / p99 ms | search p50 / p99 ms "
        "| API / worker / PostgreSQL / other PostgreSQL CPU % | outbox lag s | loop s |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    ends = [sum(s for _, s in result.phases[: i + 1]) for i in range(len(result.phases))]
    by_second: dict[int, list[tuple[float, float, str, str]]] = defaultdict(list)
    for row in result.log:
        by_second[int(row[0])].append(row)
    samples = sorted(result.samples, key=lambda s: s.at)
    for second in range(int(ends[-1])):
        rows = by_second.get(second, [])
        taken = [r[1] for r in rows if r[2] != "refused"]
        searches = [r[1] for r in rows if r[2] != "refused" and r[3] == "search"]
        rate = next(r for (r, _), end in zip(result.phases, ends, strict=True) if second < end)
        cpu = _cpu_between(samples, second, second + 1)
        lines.append(
            f"| {second} | {rate:g} | {len(taken)} | {len(rows) - len(taken)} "
            f"| {_pct(taken, 50):.0f} / {_pct(taken, 99):.0f} "
            f"| {_pct(searches, 50):.0f} / {_pct(searches, 99):.0f} | {cpu} |"
        )
    return "\n".join(lines)


def _cpu_between(samples: list[Sample], start: float, end: float) -> str:
    """The CPU shares from the last sample at or before ``start`` to the first at or after
    ``end``; the lag at that one, and the loop's time if a probe ran between them."""
    before = [s for s in samples if s.at <= start]
    after = [s for s in samples if s.at >= end]
    if not before or not after:
        return " | | "
    a, b = before[-1], after[0]
    span = b.at - a.at
    shares = (
        (b.api_cpu_s - a.api_cpu_s) / span,
        (b.worker_cpu_s - a.worker_cpu_s) / span,
        (b.database_cpu_s - a.database_cpu_s) / span,
        (b.other_database_cpu_s - a.other_database_cpu_s) / span,
    )
    lag = "" if b.outbox_lag_s is None else f"{b.outbox_lag_s:.1f}"
    probes = [s.loop_s for s in samples if a.at < s.at <= b.at and s.loop_s is not None]
    loop = f"{probes[-1]:.2f}" if probes else ""
    return " / ".join(f"{share:.0%}".rstrip("%") for share in shares) + f" | {lag} | {loop}"


def _codes(counts: dict[int, int]) -> str:
    return ", ".join(f"{c}×{n}" for c, n in sorted(counts.items())) or "0"


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    """--pg-url and --redis-url: the servers a started server's fresh database and prefix go on."""
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "YIXIANG_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("YIXIANG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="arrivals per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--url", help="an already running server")
    parser.add_argument("--server-pid", type=int, help="with --url: pid whose process tree RSS to sample")
    parser.add_argument("--start", choices=["embedded", "postgres"], help="start a server subprocess")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--data",
        help="with --start: serve existing data and keep it (embedded: data dir; postgres: database name)",
    )
    parser.add_argument("--metrics-token", help="with --url: the server's YIXIANG_METRICS_TOKEN")
    parser.add_argument("--smoke", action="store_true", help="3 s at 20 req/s")
    parser.add_argument(
        "--firms",
        type=int,
        default=50,
        help="with --start: bookings by this many firms' researchers (0: the two demo firms')",
    )
    parser.add_argument(
        "--overload",
        type=float,
        metavar="K",
        help="three phases of --seconds each: --rate, K × --rate, --rate again (admission control)",
    )
    parser.add_argument(
        "--ratio",
        action="store_true",
        help="capacity of each kind of request alone and of the mix, from --rate (bench/load/capacity.py)",
    )
    parser.add_argument(
        "--separate-worker",
        action="store_true",
        help="with --start: the outbox worker in its own `yixiang worker` process (production's shape)",
    )
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--grace", type=float, default=10.0, help="s to wait after the last arrival")
    add_service_arguments(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.rate, args.seconds = 20.0, 3.0
    if bool(args.url) == bool(args.start):
        parser.error("give exactly one of --url or --start")
    opts: dict[str, Any] = {"seed": args.seed, "grace": args.grace}
    if args.overload:
        steady, peak = (args.rate, args.seconds), (args.overload * args.rate, args.seconds)
        opts["phases"] = [steady, peak, steady]
    if args.url:
        opts["metrics_token"] = args.metrics_token
        result = asyncio.run(run_load(args.url, args.rate, args.seconds, args.server_pid, **opts))
        title = f"{args.url}"
    else:
        # A started server's /metrics answer this run's bearer (in production they need one).
        opts["metrics_token"] = token = secrets.token_urlsafe(16)
        extra = {"YIXIANG_METRICS_TOKEN": token}
        if args.separate_worker:
            extra["YIXIANG_WORKER_IN_PROCESS"] = "false"
        if args.firms and not args.smoke:
            opts["researchers"] = [researcher(index) for index in range(args.firms)]
        firms = 0 if args.smoke else args.firms
        with (
            start_server(
                args.start, args.workers, args.pg_url, args.redis_url, args.data, extra_env=extra, firms=firms
            ) as server,
            outbox_worker(server, args.separate_worker) as worker_pid,
        ):
            if args.ratio:
                from bench.load.capacity import ratio

                researchers = opts.get("researchers")
                print(
                    asyncio.run(
                        ratio(
                            server.url,
                            server.pid,
                            args.rate,
                            args.seconds,
                            token,
                            researchers,
                            worker_pid,
                            server.database_url,
                        )
                    )
                )
                return 0
            opts["worker_pid"], opts["database_url"] = worker_pid, server.database_url
            result = asyncio.run(run_load(server.url, args.rate, args.seconds, server.pid, **opts))
        title = f"{args.start}, {args.workers} worker{'s' if args.workers > 1 else ''}"
        title += ", outbox worker apart" if args.separate_worker else ", outbox worker in-process"
    print(markdown(result, f"{title} ({platform.python_version()}, {os.cpu_count()} CPU)"))
    return 1 if result.total_errors else 0
