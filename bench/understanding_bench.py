"""CPU to understand one message (bot/understanding): the utterance table, p50/p99 per message.

Each utterance is understood once to warm the caches of a running process (jieba's dictionary,
the vocabulary), then every utterance ``--rounds`` times with fresh text (a suffix that changes
each round defeats the per-text caches, as new messages do). CPU time (``time.process_time_ns``)
per call; a fixed Python loop is timed beside it so runs on different machines compare.

    uv run python -m bench.understanding_bench [--rounds 20]
"""

from __future__ import annotations

import argparse
import csv
import platform
import statistics
import time
from datetime import datetime
from pathlib import Path

from bot.understanding import understand
from yixiang.clock import SHANGHAI

TABLE = Path(__file__).resolve().parent.parent / "tests" / "bot" / "data" / "utterances.csv"
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=SHANGHAI)


def utterances() -> list[str]:
    with TABLE.open(encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(line for line in f if not line.startswith("#"))]


def fixed_loop_ms() -> float:
    started = time.process_time_ns()
    total = 0
    for i in range(1_000_000):
        total += i * i % 7
    return (time.process_time_ns() - started) / 1e6


def main(rounds: int) -> None:
    texts = utterances()
    for text in texts:
        understand(text, NOW)
    timings = []
    for r in range(rounds):
        for text in texts:
            fresh = f"{text} {r}" if r else text
            started = time.process_time_ns()
            understand(fresh, NOW)
            timings.append((time.process_time_ns() - started) / 1e6)
    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(f"understand n={len(timings)} ({len(texts)} utterances x {rounds}) "
          f"p50={p50:.3f} ms p99={p99:.3f} ms max={timings[-1]:.3f} ms CPU")  # fmt: skip
    print(f"fixed loop (1e6 iterations): {fixed_loop_ms():.1f} ms CPU")
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    main(parser.parse_args().rounds)
