"""Usage sessions from power readings: pure functions, no database.

A reading counts as *running* when its state is ``on`` and its power reaches the instrument's
running threshold. A session is a run of running readings, each within the offline gap of the
one before: it starts at its first running reading and ends at the first reading that is not
running, or, when the sensor falls silent for longer than the gap, at its last running reading
(what happened in the silence is not known; it is not counted as use). Energy is each reading's
power held until the next reading, within the session.

The result depends only on the set of readings, never on the order they arrived in: that is what
makes late, repeated and out-of-order messages harmless (``oversight.ingest`` recomputes the
sessions around every batch from the stored readings).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from oversight.models import PowerState


@dataclass(frozen=True)
class Thresholds:
    running_watts: int = 50
    min_session: timedelta = timedelta(minutes=5)
    offline_after: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class Point:
    """One reading as the session rules see it; ``order`` breaks ties of equal times."""

    at: datetime
    state: PowerState
    watts: int
    order: tuple[str, int] = ("", 0)


@dataclass(frozen=True)
class Run:
    start: datetime
    end: datetime
    energy_j: int  # watt-seconds
    counted: bool  # at least the minimum session length


def is_running(point: Point, thresholds: Thresholds) -> bool:
    return point.state == PowerState.on and point.watts >= thresholds.running_watts


def live_state(point: Point, thresholds: Thresholds) -> str:
    """running | standby | off, for the live status (on but below the threshold: standby)."""
    if is_running(point, thresholds):
        return "running"
    return "off" if point.state == PowerState.off else "standby"


def interval_joules(point: Point, until_next: timedelta) -> int:
    """A reading's power held until the next reading, rounded per interval (so a session's energy
    is the same sum whether computed at once or extended batch by batch)."""
    return round(point.watts * until_next.total_seconds())


def runs_of(points: Iterable[Point], thresholds: Thresholds) -> list[Run]:
    ordered = sorted(points, key=lambda p: (p.at, p.order))
    runs: list[Run] = []
    start: datetime | None = None
    last_running: datetime | None = None
    joules = 0
    previous: Point | None = None

    def close(end: datetime) -> None:
        nonlocal start, joules
        assert start is not None
        runs.append(Run(start, end, joules, end - start >= thresholds.min_session))
        start, joules = None, 0

    for point in ordered:
        if start is not None and previous is not None:
            silence = point.at - previous.at
            if silence > thresholds.offline_after:
                assert last_running is not None
                close(last_running)
            else:
                joules += interval_joules(previous, silence)
                if not is_running(point, thresholds):
                    close(point.at)
        if is_running(point, thresholds):
            if start is None:
                start = point.at
            last_running = point.at
        previous = point
    if start is not None and last_running is not None:
        close(last_running)  # still running at the newest reading: so far
    return runs
