"""How much of the day's mix one server answers, against what its routes alone predict (issue 25,
goal 1): the ratio that does not drift with the machine's speed.

    uv run python -m bench.load --start postgres --data bench_search --ratio --rate 20 --seconds 8

A route's *capacity* is the highest arrival rate, stepped up by a quarter from ``--rate`` (down
first if that already fails), at which the server answers for ``--seconds`` with p99 under
100 ms, no error and nothing refused by admission. Each kind of request alone, then the mix;
the routes predict the mix's capacity as 1 / Σ (share ÷ capacity alone) — what a server that
spends on each request of the mix what it spends on it alone would manage. Ratio = the mix's
capacity measured ÷ predicted: 1 when the routes do not slow each other down. Beside each, the
server's CPU per request at the first rate stepped (app processes, and PostgreSQL + Redis).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import httpx

from bench.load.driver import MIX, Fixture, Result, _pct, answered, prepare, run_load

LIMIT_MS = 100.0
_runs = itertools.count(100)  # each step its own seed: a step replaying another's searches would
# find their answers remembered, and later steps (the mix last) would look faster than they are
STEP = 1.25
MAX_STEPS = 14


@dataclass
class Staircase:
    """The rates a capacity search tries: up by a quarter while they pass, down while they fail,
    ending at the first turn (or after ``steps_left`` steps). ``best``: the highest figure of a
    passed step (its rate, or what it achieved)."""

    rate: float
    steps_left: int = MAX_STEPS
    best: float | None = None
    going_up: bool | None = None

    def record(self, passed: bool, achieved: float) -> bool:
        """The step at ``rate`` passed or not; True while there is a next rate (now ``rate``)."""
        self.steps_left -= 1
        if self.going_up is None:
            self.going_up = passed
        if passed:
            self.best = max(self.best or 0.0, achieved)
        if passed != self.going_up or not self.steps_left:
            return False
        self.rate = self.rate * STEP if passed else self.rate / STEP
        return True


@dataclass
class Step:
    rate: float
    answered_per_s: float
    p99_ms: float
    errors: int
    refused: int
    app_ms: float | None  # server CPU per answered request
    database_ms: float | None

    @property
    def passed(self) -> bool:
        return self.p99_ms < LIMIT_MS and not self.errors and not self.refused


def step_of(result: Result) -> Step:
    latencies = [x for st in result.stats.values() for x in st.latencies]
    n = answered(result)
    return Step(
        result.rate,
        n / result.seconds,
        _pct(latencies, 99),
        result.total_errors,
        sum(len(st.refused) for st in result.stats.values()),
        result.server_cpu_s / n * 1000 if result.server_cpu_s is not None and n else None,
        result.database_cpu_s / n * 1000 if result.database_cpu_s is not None and n else None,
    )


async def capacity(
    url: str,
    pid: int | None,
    mix: list[tuple[str, int]],
    rate: float,
    seconds: float,
    token: str | None,
    fixture: Fixture,
    worker_pid: int | None = None,
    database_url: str | None = None,
) -> tuple[float | None, list[Step]]:
    """The highest rate passed, and every step run."""
    steps: list[Step] = []
    stairs = Staircase(rate)
    while True:
        result = await run_load(
            url,
            stairs.rate,
            seconds,
            pid,
            grace=5,
            seed=next(_runs),
            metrics_token=token,
            mix=mix,
            fixture=fixture,
            worker_pid=worker_pid,
            database_url=database_url,
        )
        step = step_of(result)
        steps.append(step)
        if not stairs.record(step.passed, stairs.rate):
            return stairs.best, steps


async def ratio(
    url: str,
    pid: int | None,
    rate: float,
    seconds: float,
    token: str | None,
    researchers: list[str] | None,
    worker_pid: int | None = None,
    database_url: str | None = None,
) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        fixture = await prepare(client, researchers)
    total = sum(w for _, w in MIX)
    rows, inverse = [], 0.0

    async def capacity_of(mix: list[tuple[str, int]]) -> tuple[float | None, list[Step]]:
        return await capacity(url, pid, mix, rate, seconds, token, fixture, worker_pid, database_url)

    for kind, weight in MIX:
        found, steps = await capacity_of([(kind, 1)])
        share = weight / total
        if found:
            inverse += share / found
        rows.append((kind, share, found, steps))
    mix_found, mix_steps = await capacity_of(MIX)
    predicted = 1 / inverse if inverse else None
    lines = [
        f"Capacity at p99 < {LIMIT_MS:g} ms, steps of {seconds:g} s from {rate:g} req/s, ×{STEP:g}:",
        "",
        "| requests | share | capacity (arrivals/s) | server CPU per request: app / PostgreSQL+Redis ms "
        "| steps (rate: p99 ms) |",
        "|---|---:|---:|---|---|",
    ]
    for kind, share, found, steps in [*rows, ("**the mix**", 1.0, mix_found, mix_steps)]:
        first = steps[0]
        cpu = (
            f"{first.app_ms:.2f} / {first.database_ms:.2f}"
            if first.app_ms is not None and first.database_ms is not None
            else "n/a"
        )
        trail = ", ".join(f"{s.rate:.0f}: {s.p99_ms:.0f}{'' if s.passed else '✗'}" for s in steps)
        lines.append(f"| {kind} | {share:.0%} | {found or 0:.0f} | {cpu} | {trail} |")
    if predicted and mix_found:
        lines += [
            "",
            f"Predicted by the routes alone: {predicted:.0f} arrivals/s; measured {mix_found:.0f}; "
            f"**ratio {mix_found / predicted:.2f}** (goal ≥ 0.8).",
        ]
    return "\n".join(lines)
