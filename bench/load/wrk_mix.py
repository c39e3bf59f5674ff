"""The day's mix driven by wrk (C) through ``bench/load/mix.lua``: issue 25's goals 1 and 2 measured
without a Python driver eating the server's CPU on this 2-core machine.

    apt-get install wrk
    uv run python -m bench.load.wrk_mix --data bench_search --workers 2 --rate 300 --seconds 60
    uv run python -m bench.load.wrk_mix --data bench_search --workers 2 --ratio --seconds 30
    uv run python -m bench.load.wrk_mix --data bench_search --workers 2 --rate 150 --seconds 30 --overload 4

PostgreSQL + Redis in production's shape: ``--workers`` API processes and the outbox worker in a
process of its own. ``--data`` names a database of ``bench.generate_instruments`` (kept).

The mix (arrivals): 68% search (the day's searches, ``bench/search_mix.py``), 10% instrument
detail, 7% availability (a week), 3% quote, 4% booking (create, then cancel), 1% booking that
waits for approval (create, the provider approves, then cancel), 3% bot message (signed,
AES-encrypted), 4% sensor readings (five of one sensor, signed; a sensor on each of the demo
unit's instruments). Follow-ups
take the next arrival of the schedule (mix.lua). Each run's requests are written beforehand, with
fresh timestamps (a bot push is refused after 300 s), so nothing is computed while wrk runs.

Latency counts from the planned arrival (open model, corrected for coordinated omission). The
driver's CPU (wrk's rusage) is reported beside the server's (API processes + worker) and
PostgreSQL's + Redis's, per answered request, with the server's own per-route figures from its
``/metrics``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.load.capacity import LIMIT_MS, STEP, Staircase
from bench.load.driver import (
    CST,
    TABLE_ORDER,
    Fixture,
    Result,
    Sample,
    Stats,
    _pct,
    add_service_arguments,
    answered,
    bot_push,
    cpu_tree_s,
    database_cpu,
    database_cpu_since,
    markdown,
    outbox_worker,
    prepare,
    rss_tree_kb,
    start_server,
    timeline_markdown,
)
from bench.load.firms import researcher
from bench.load.server_metrics import Scrape, ServerFigures, peaks_of, scrape
from bench.search_mix import zipf_requests
from bench.sensor_ingest_bench import python_loop_seconds
from oversight.models import PowerState
from oversight.protocol import ReadingBody, sign_reading

SCRIPT = Path(__file__).with_name("mix.lua")
MIX = [
    ("search", 68),
    ("detail", 10),
    ("availability", 7),
    ("quote", 3),
    ("booking", 4),
    ("approval", 1),
    ("bot", 3),
    ("readings", 4),
]
APPROVAL_INSTRUMENTS = 3
# A sensor posts its own readings, a few buffered at a time; a province has thousands, so two
# requests of one sensor rarely meet (ingest locks the sensors of a batch: 20 sensors shared by
# all the mix's batches made them queue on each other's locks for seconds)
SENSORS = 150  # at most: one on each of the demo unit's instruments that takes no approvals
READINGS_PER_REQUEST = 5
THREADS = 2
# Connections: enough that one is free at each arrival while answers take up to two seconds (an
# overloaded server, not the driver, must decide what waits), each kept open by the server
# between its requests (KEEP_ALIVE: a connection idles up to connections ÷ rate seconds).
BUSY_SECONDS = 2.0
KEEP_ALIVE = "60"


@dataclass
class World:
    fixture: Fixture
    provider: str  # the demo provider's bearer token (approves)
    approval_slots: list[tuple[str, str, str]]  # on instruments whose bookings wait for approval
    sensors: list[tuple[str, str]]  # (sensor id, secret)
    seq: int = field(default_factory=lambda: int(time.time() * 1000))


async def _bearer(client: httpx.AsyncClient, username: str) -> str:
    r = await client.post("/api/v1/auth/dev-login", json={"username": username})
    r.raise_for_status()
    return str(r.json()["token"])


async def _free_hours(
    client: httpx.AsyncClient, iid: str, auth: dict[str, str], days: int
) -> list[tuple[str, str, str]]:
    today = datetime.now(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    r = await client.get(
        f"/api/v1/instruments/{iid}/availability",
        params={
            "from": (today + timedelta(days=2)).isoformat(),
            "to": (today + timedelta(days=days)).isoformat(),
        },
        headers=auth,
    )
    r.raise_for_status()
    return [
        (iid, s["start"], s["end"])
        for s in r.json()["slots"]
        if datetime.fromisoformat(s["start"]).minute == 0
    ]


async def prepare_world(url: str, researchers: list[str]) -> World:
    """The search fixture (bench.load.driver.prepare), and of the demo unit's machine-time
    instruments: a few whose bookings wait for the provider's approval, and sensors on others."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        fixture = await prepare(client, researchers)
        provider = await _bearer(client, "demo-provider")
        auth = {"authorization": f"Bearer {provider}"}
        r = await client.get(
            "/api/v1/provider/instruments", params={"publication": "published", "limit": 200}, headers=auth
        )
        r.raise_for_status()
        ours = [i["id"] for i in r.json()["items"]]
        machine = []  # run by the unit's operator in machine time: the mix's bookings
        for iid in ours:
            detail = (await client.get(f"/api/v1/instruments/{iid}", headers=auth)).json()
            if "machine_time" in detail["service_modes"] and detail["operator_run"]:
                machine.append(iid)
            if len(machine) == APPROVAL_INSTRUMENTS:
                break
        if len(machine) < APPROVAL_INSTRUMENTS or len(ours) < APPROVAL_INSTRUMENTS + 20:
            raise RuntimeError("the demo unit has too few instruments")
        calendar = {
            "weekly_hours": [{"weekday": d, "start": "08:00", "end": "20:00"} for d in range(7)],
            "follows_working_days": False,
            "slot_minutes": 60,
            "min_duration_minutes": 60,
            "max_advance_days": 120,
            "needs_approval": True,
            "approval_window_hours": 720,
        }
        approval_slots: list[tuple[str, str, str]] = []
        for iid in machine:
            (
                await client.put(f"/api/v1/provider/instruments/{iid}/calendar", json=calendar, headers=auth)
            ).raise_for_status()
            approval_slots += await _free_hours(client, iid, auth, 30)
        sensors: list[tuple[str, str]] = []
        for iid in [i for i in ours if i not in machine]:
            if len(sensors) == SENSORS:
                break
            # the same sensors each run, retired and put back into use: each time a new secret
            sensor_id = f"S-LOAD-{len(sensors):03d}"
            retire = {"reason": "压测：重新登记"}
            await client.post(f"/api/v1/oversight/sensors/{sensor_id}/retire", json=retire, headers=auth)
            body = {"sensor_id": sensor_id, "instrument_id": iid}
            r = await client.post("/api/v1/oversight/sensors", json=body, headers=auth)
            if r.status_code == 409:  # the instrument has a sensor of the demo's, or of another run's
                continue
            r.raise_for_status()
            sensors.append((sensor_id, r.json()["secret"]))
    # the instant-confirm slots must not be on the approval instruments
    fixture.slots = [s for s in fixture.slots if s[0] not in machine]
    return World(fixture, provider, approval_slots, sensors)


# --- the plan ---------------------------------------------------------------------------------


def _line(
    kind: str, route: str, method: str, path: str, headers: dict[str, str], body: str = "", provider: str = ""
) -> str:
    joined = "\x1f".join(f"{k}: {v}" for k, v in headers.items())
    for text in (path, joined, body, provider):
        assert "\t" not in text and "\n" not in text, text
    return "\t".join([kind, route, method, path, joined, body, provider])


class Planner:
    """Writes a run's requests: the kinds drawn by weight, each request as the server expects it."""

    def __init__(self, world: World, seed: int) -> None:
        self.world, self.rnd = world, random.Random(seed)
        self.searches = iter(zipf_requests(200_000, seed=seed))
        self.openids = [f"oLoad{n:06d}" for n in range(200)]

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.rnd.choice(self.world.fixture.tokens)}"}

    def _booking(self, slot: tuple[str, str, str]) -> str:
        iid, start, end = slot
        body = {
            "instrument_id": iid,
            "mode": "machine_time",
            "operation": "operator",
            "start": start,
            "end": end,
        }
        return json.dumps(body, separators=(",", ":"))

    def one(self, kind: str) -> str:
        rnd, fx = self.rnd, self.world.fixture
        json_headers = {"Content-Type": "application/json"}
        if kind == "search":
            request = next(self.searches)
            params = {
                k: str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in vars(request).items()
                if v is not None and v != ""
            }
            path = "/api/v1/instruments/search?" + urllib.parse.urlencode(params)
            return _line(kind, "search", "GET", path, self._auth())
        if kind == "detail":
            return _line(
                kind, "detail", "GET", f"/api/v1/instruments/{rnd.choice(fx.instrument_ids)}", self._auth()
            )
        if kind == "availability":
            query = urllib.parse.urlencode({"from": fx.week_from, "to": fx.week_to})
            path = f"/api/v1/instruments/{rnd.choice(fx.instrument_ids)}/availability?{query}"
            return _line(kind, "availability", "GET", path, self._auth())
        if kind == "quote":
            body = self._booking(rnd.choice(fx.slots))
            return _line(kind, "quote", "POST", "/api/v1/quotes", self._auth() | json_headers, body)
        if kind == "booking":
            body = self._booking(rnd.choice(fx.slots))
            return _line(
                kind, "booking.create", "POST", "/api/v1/bookings", self._auth() | json_headers, body
            )
        if kind == "approval":
            body = self._booking(rnd.choice(self.world.approval_slots))
            provider = f"Bearer {self.world.provider}"
            return _line(
                kind,
                "booking.create",
                "POST",
                "/api/v1/bookings",
                self._auth() | json_headers,
                body,
                provider,
            )
        if kind == "bot":
            params, body = bot_push(rnd, self.openids)
            path = "/wechat/official-account?" + urllib.parse.urlencode(params)
            return _line(kind, "bot", "POST", path, {"Content-Type": "text/xml"}, body)
        if kind == "readings":
            messages = []
            read_at = datetime.now(UTC) - timedelta(seconds=30)
            sensor_id, secret = rnd.choice(self.world.sensors)
            for _ in range(READINGS_PER_REQUEST):
                self.world.seq += 1
                reading = ReadingBody(
                    sensor_id=sensor_id, seq=self.world.seq, ts=read_at, state=PowerState.on, watts=900
                )
                messages.append(json.loads(sign_reading(reading, secret)))
            body = json.dumps({"messages": messages}, separators=(",", ":"))
            return _line(kind, "readings", "POST", "/api/v1/oversight/readings", json_headers, body)
        raise ValueError(kind)

    def write(self, path: Path, mix: list[tuple[str, int]], count: int) -> None:
        kinds, weights = [k for k, _ in mix], [w for _, w in mix]
        with path.open("w") as out:
            for kind in self.rnd.choices(kinds, weights, k=count):
                out.write(self.one(kind) + "\n")


# --- one run ----------------------------------------------------------------------------------


@dataclass
class Sampler:
    """The server's RSS, its /metrics and the CPU of its processes and its database, once a
    second, while wrk runs (``t0``: when wrk started)."""

    url: str
    serving: list[int]  # the API server, then the outbox worker if apart
    token: str
    database_url: str | None = None
    t0: float = 0.0
    rss: list[int] = field(default_factory=list)
    scrapes: list[Scrape] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def pid(self) -> int:
        return self.serving[0]

    def scrape(self) -> Scrape | None:
        async def once() -> Scrape | None:  # from wrk's side thread: a loop of its own
            async with httpx.AsyncClient(base_url=self.url) as client:
                return await scrape(client, self.token)

        return asyncio.run(once())

    def wait_for_outbox(self, limit: float = 120.0) -> None:
        """Until the worker has caught up with the events earlier runs left (their notifications,
        index updates): a run must not pay for the one before it. (Periodic jobs wait in the
        outbox for their time: the lag, not the count, says whether it is behind.)"""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            scrape = self.scrape()
            if scrape is not None and scrape.gauges.get("yixiang_outbox_lag_seconds", 0.0) < 1.0:
                return
            time.sleep(1.0)

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.rss.append(rss_tree_kb(self.pid))
            at = time.monotonic() - self.t0
            worker = cpu_tree_s(self.serving[1]) if len(self.serving) > 1 else 0.0
            database = sum(database_cpu(self.database_url).values())
            everything = sum(database_cpu().values())
            now = self.scrape()
            if now is not None:
                self.scrapes.append(now)
            lag = now.gauges.get("yixiang_outbox_lag_seconds") if now is not None else None
            # the VM's speed drifts within a run: a probe every 5 s (~70 ms of this process's CPU)
            loop = python_loop_seconds(tenth=True) if len(self.samples) % 5 == 4 else None
            other = everything - database
            self.samples.append(Sample(at, cpu_tree_s(self.pid), worker, database, lag, other, loop))


def run_wrk(
    url: str,
    world: World,
    planner: Planner,
    phases: list[tuple[float, float]],
    serving: list[int],
    token: str,
    mix: list[tuple[str, int]],
    seed: int,
    single_process: bool,
    database_url: str | None,
) -> Result:
    """One wrk run of ``phases``; the server's own figures (its /metrics) only with one API
    process, since a scrape reaches whichever process accepts it. ``database_url``: the server's
    database (only its backends' CPU counts as PostgreSQL's)."""
    seconds = sum(s for _, s in phases)
    planned = sum(r * s for r, s in phases)
    with tempfile.TemporaryDirectory(prefix="yixiang-wrk-mix-") as directory:
        plan, out = Path(directory) / "plan.tsv", Path(directory) / "outcomes.tsv"
        planner.write(plan, mix, int(planned * 1.2) + 200)
        sampler = Sampler(url, serving, token, database_url)
        sampler.wait_for_outbox()
        first = sampler.scrape()
        server0, database0 = sum(map(cpu_tree_s, serving)), database_cpu(database_url)
        thread = threading.Thread(target=sampler.run, daemon=True)
        sampler.t0 = time.monotonic()
        thread.start()
        connections = max(4 * THREADS, min(2000, round(max(r for r, _ in phases) * BUSY_SECONDS)))
        phase_arg = ",".join(f"{r:g}:{s:g}" for r, s in phases)
        command = [
            "wrk", f"-t{THREADS}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
            "-s", str(SCRIPT), url, "--", str(plan), phase_arg, str(seed), str(THREADS),
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            env=os.environ | {"YIXIANG_WRK_OUT": str(out)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        report = process.stdout.read().decode(errors="replace") if process.stdout else ""
        server_cpu = sum(map(cpu_tree_s, serving)) - server0
        database_s = database_cpu_since(database0, database_url)
        sampler.stop.set()
        thread.join()
        if process.returncode != 0 or not out.exists():
            raise RuntimeError(f"wrk failed ({process.returncode}):\n{report}")
        last = sampler.scrape()
        result = outcome_of(out.read_text(), phases, seconds, planned)
    result.driver_cpu_s = usage.ru_utime + usage.ru_stime
    result.server_cpu_s, result.database_cpu_s = server_cpu, database_s
    result.samples = sampler.samples
    result.rss_peak_mb = max(sampler.rss) / 1024 if sampler.rss else None
    result.rss_end_mb = sampler.rss[-1] / 1024 if sampler.rss else None
    if first is not None and last is not None and single_process:
        result.server = ServerFigures(first, last, peaks_of([*sampler.scrapes, last]))
    return result


Runner = Callable[[list[tuple[str, int]], list[tuple[float, float]]], Result]


def outcome_of(text: str, phases: list[tuple[float, float]], seconds: float, planned: float) -> Result:
    """mix.lua's lines as the Python driver's Result (so its tables and phase figures apply)."""
    stats: dict[str, Stats] = {route: Stats() for route in TABLE_ORDER}
    log: list[tuple[float, float, str, str]] = []
    by_kind: dict[str, int] = defaultdict(int)
    unanswered, sent = 0, 0
    for line in text.splitlines():
        fields = line.split("\t")
        if fields[0] == "#errors":
            counts = dict(f.split("=") for f in fields[1:])
            sent = int(counts["sent"])
            unanswered = sum(int(counts[k]) for k in ("connect", "read", "write", "timeout"))
            continue
        kind, route, code, latency_ms, at, retry = fields
        by_kind[kind] += 1
        st, status, latency = stats[route], int(code), float(latency_ms) / 1000
        if status in (429, 503) and retry:
            st.refused.append(latency)
            log.append((float(at), latency, "refused", route))
            continue
        st.latencies.append(latency)
        log.append((float(at), latency, "error" if status >= 500 else "ok", route))
        if status >= 500:
            st.errors += 1
        elif status >= 400:
            expected = route == "booking.create" and status in (400, 409)
            (st.expected_4xx if expected else st.other_4xx)[status] += 1
        else:
            st.ok += 1
    answered_n = sum(st.count for st in stats.values())
    # wrk's timeouts and broken connections never reach response(): errors, on no route
    stats["search"].errors += unanswered
    return Result(
        stats,
        seconds,
        int(planned),
        planned / seconds,
        None,
        None,
        float("nan"),
        phases=phases,
        log=sorted(log),
        by_kind=dict(by_kind),
        driver=f"wrk: {sent} sent, {answered_n} answered, {unanswered} timed out or broken off",
    )


# --- capacity and the ratio -------------------------------------------------------------------


def passed(result: Result) -> bool:
    latencies = [x for st in result.stats.values() for x in st.latencies]
    refused = sum(len(st.refused) for st in result.stats.values())
    unexpected = sum(sum(st.other_4xx.values()) for st in result.stats.values())
    return (
        not unexpected
        and _pct(latencies, 99) < LIMIT_MS
        and not result.total_errors
        and not refused
        and answered(result) >= 0.97 * result.planned
    )


def cpu_ms(result: Result) -> tuple[float, float]:
    n = max(1, answered(result))
    return (result.server_cpu_s or 0.0) / n * 1000, (result.database_cpu_s or 0.0) / n * 1000


def capacity(
    run: Runner, mix: list[tuple[str, int]], seconds: float, cores: int
) -> tuple[float | None, list[str], tuple[float, float]]:
    """Probe 10 s at 30 arrivals/s for the CPU per request, start where the CPU would be 70% of
    the machine, then step by a quarter (up while passing, down while failing)."""
    probe = run(mix, [(30.0, 10.0)])
    app, db = cpu_ms(probe)
    stairs, trail = Staircase(max(20.0, min(1200.0, 0.7 * cores * 1000 / (app + db))), steps_left=8), []
    while True:
        result = run(mix, [(stairs.rate, seconds)])
        ok = passed(result)
        latencies = [x for st in result.stats.values() for x in st.latencies]
        trail.append(f"{stairs.rate:.0f}: {_pct(latencies, 99):.0f}{'' if ok else '✗'}")
        if not stairs.record(ok, answered(result) / result.seconds):
            return stairs.best, trail, (app, db)


def ratio(run: Runner, seconds: float) -> str:
    cores = os.cpu_count() or 1
    rows, inverse = [], 0.0
    counts = run(MIX, [(30.0, 20.0)]).by_kind
    total = sum(counts.values())
    for kind, _ in MIX:
        found, trail, (app, db) = capacity(run, [(kind, 1)], seconds, cores)
        share = counts.get(kind, 0) / total
        if found:
            inverse += share / found
        rows.append((kind, share, found, trail, app, db))
    found, trail, (app, db) = capacity(run, MIX, seconds, cores)
    rows.append(("**the mix**", 1.0, found, trail, app, db))
    lines = [
        f"Capacity at p99 < {LIMIT_MS:g} ms and ≥ 97% answered, steps of {seconds:g} s, ×{STEP:g} "
        "(answered requests/s; a kind's share is of the requests the mix sent):",
        "",
        "| requests | share | capacity (answered/s) | server CPU per request: app / PostgreSQL+Redis ms "
        "| steps (planned: p99 ms) |",
        "|---|---:|---:|---|---|",
    ]
    for kind, share, cap, steps, app, db in rows:
        lines.append(f"| {kind} | {share:.1%} | {cap or 0:.0f} | {app:.2f} / {db:.2f} | {', '.join(steps)} |")
    if inverse and found:
        predicted = 1 / inverse
        lines += [
            "",
            f"Predicted by the routes alone: {predicted:.0f}/s; measured {found:.0f}/s; "
            f"**ratio {found / predicted:.2f}** (goal ≥ 0.8).",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load.wrk_mix", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="arrivals per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2, help="API processes")
    parser.add_argument("--data", help="a database of bench.generate_instruments (kept)")
    parser.add_argument("--firms", type=int, default=50)
    parser.add_argument("--overload", type=float, metavar="K", help="--rate, K × --rate, --rate again")
    parser.add_argument("--ratio", action="store_true", help="capacity of each kind alone and of the mix")
    parser.add_argument("--only", choices=[k for k, _ in MIX], help="one kind of request instead of the mix")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server (repeatable)",
    )
    parser.add_argument("--timeline", action="store_true", help="a row for every second of the run")
    parser.add_argument("--seed", type=int, default=8)
    add_service_arguments(parser)
    args = parser.parse_args(argv)
    token = secrets.token_urlsafe(16)
    extra = {
        "YIXIANG_METRICS_TOKEN": token,
        "YIXIANG_WORKER_IN_PROCESS": "false",
        "YIXIANG_KEEP_ALIVE_SECONDS": KEEP_ALIVE,
        "YIXIANG_ACCESS_TOKEN_MINUTES": "1440",  # a --ratio run outlasts the 15 minutes
    } | dict(pair.split("=", 1) for pair in args.env)
    researchers = [researcher(i) for i in range(args.firms)]
    loop_before, load_before = python_loop_seconds(), os.getloadavg()[0]
    started = datetime.now(UTC)
    with (
        start_server(
            "postgres",
            args.workers,
            args.pg_url,
            args.redis_url,
            args.data,
            extra_env=extra,
            firms=args.firms,
        ) as server,
        outbox_worker(server, True) as worker_pid,
    ):
        world = asyncio.run(prepare_world(server.url, researchers))
        planner = Planner(world, args.seed)
        serving = [server.pid, worker_pid] if worker_pid else [server.pid]
        runs = iter(range(args.seed * 100, 10**9))

        def run(mix: list[tuple[str, int]], phases: list[tuple[float, float]]) -> Result:
            return run_wrk(
                server.url,
                world,
                planner,
                phases,
                serving,
                token,
                mix,
                next(runs),
                args.workers == 1,
                server.database_url,
            )

        run(MIX, [(30.0, 5.0)])  # warm-up, not counted
        if args.ratio:
            report = ratio(run, args.seconds)
        else:
            phases = [(args.rate, args.seconds)]
            if args.overload:
                phases = [phases[0], (args.overload * args.rate, args.seconds), phases[0]]
            result = run([(args.only, 1)] if args.only else MIX, phases)
            settings = "".join(f", {pair}" for pair in args.env)
            title = f"PostgreSQL + Redis, {args.workers} API process(es), outbox worker apart, wrk{settings}"
            report = markdown(result, title)
            if args.timeline:
                report += "\n\n" + timeline_markdown(result)
    loop_after = python_loop_seconds()
    print(
        f"<!-- {started:%Y-%m-%d %H:%M} UTC, {platform.python_version()}, {os.cpu_count()} CPU; load average "
        f"{load_before:.1f} → {os.getloadavg()[0]:.1f}; "
        f"loop of 10⁷ additions {loop_before:.2f} s → {loop_after:.2f} s -->"
    )
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
