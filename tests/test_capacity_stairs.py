"""The load bench's capacity search (bench/load/capacity.py): the rates it tries and what it finds."""

from __future__ import annotations

from bench.load.capacity import STEP, Staircase


def climb(start: float, limit: float, steps: int = 14) -> tuple[float | None, list[float]]:
    """A server that passes every rate up to ``limit``."""
    stairs, tried = Staircase(start, steps_left=steps), []
    while True:
        tried.append(stairs.rate)
        if not stairs.record(stairs.rate <= limit, stairs.rate):
            return stairs.best, tried


def test_it_steps_up_while_passing_and_stops_at_the_first_failure():
    best, tried = climb(20.0, limit=40.0)
    assert tried == [20.0, 20.0 * STEP, 20.0 * STEP**2, 20.0 * STEP**3, 20.0 * STEP**4]
    assert best == 20.0 * STEP**3  # 39.06: the last rate under the limit


def test_it_steps_down_from_a_failing_start_to_the_first_pass():
    best, tried = climb(100.0, limit=60.0)
    assert tried == [100.0, 100.0 / STEP, 100.0 / STEP**2, 100.0 / STEP**3]
    assert best == 100.0 / STEP**3  # 51.2


def test_a_server_that_never_passes_has_no_capacity_and_the_steps_are_bounded():
    best, tried = climb(100.0, limit=0.0, steps=5)
    assert best is None and len(tried) == 5
