"""The session rules on their own (no database): what counts as running, where a session starts
and ends, and that the result depends on the set of readings, not their order or repetition."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from oversight.models import PowerState
from oversight.protocol import Parsed, parse, verify
from oversight.sessions import Point, Thresholds, runs_of

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
RULES = Thresholds(running_watts=100, min_session=timedelta(minutes=5), offline_after=timedelta(minutes=15))


def points(*spec: tuple[int, str, int]) -> list[Point]:
    return [
        Point(T0 + timedelta(minutes=m), PowerState(state), watts, ("s", i))
        for i, (m, state, watts) in enumerate(spec)
    ]


def test_on_below_the_threshold_is_not_use():
    assert runs_of(points((0, "on", 99), (10, "on", 99), (20, "off", 0)), RULES) == []


def test_a_session_ends_at_the_first_reading_that_is_not_running():
    [run] = runs_of(points((0, "on", 20), (1, "on", 600), (11, "on", 600), (12, "standby", 5)), RULES)
    assert (run.start, run.end) == (T0 + timedelta(minutes=1), T0 + timedelta(minutes=12))
    assert run.energy_j == 600 * 11 * 60  # 600 W for 11 minutes
    assert run.counted


def test_a_short_run_is_kept_but_not_counted():
    [run] = runs_of(points((0, "on", 600), (2, "off", 0)), RULES)
    assert not run.counted


reading = st.tuples(st.integers(0, 300), st.sampled_from(["on", "standby", "off"]), st.integers(0, 2000))


@settings(deadline=None)  # a property of the result, not of its speed (the CI machine is shared)
@given(st.lists(reading, max_size=60, unique_by=lambda r: r[0]), st.randoms())
def test_the_sessions_do_not_depend_on_order_or_repetition(spec, rng):
    readings = points(*spec)
    again = readings + rng.sample(readings, len(readings) // 2)
    rng.shuffle(again)
    assert runs_of(again, RULES) == runs_of(readings, RULES)


def test_the_protocol_document_example_verifies():
    text = (Path(__file__).resolve().parents[2] / "oversight" / "SENSOR_PROTOCOL.md").read_text()
    envelope = next(line for line in text.splitlines() if line.startswith('{"body":"{'))
    secret = re.search(r"secret `([0-9a-f]{64})`", text)
    assert secret is not None
    parsed = parse(envelope.encode())
    assert isinstance(parsed, Parsed) and parsed.reading.watts == 1850
    assert verify(parsed, secret.group(1).encode())
    json.loads(envelope)
