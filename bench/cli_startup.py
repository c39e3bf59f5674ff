"""CPU time the ``yixiang`` command spends before and while doing a small thing.

    uv run python bench/cli_startup.py            # 5 runs of each command, the median
    uv run python bench/cli_startup.py --runs 9

Each command runs as its own process (``python -m yixiang.cli ...``, what the ``yixiang`` script
runs) against a scratch data directory migrated beforehand, and its user + system CPU is read
from the kernel (``os.wait4``), so other processes on the machine do not count; wall time is shown
too. Beside them, a fixed Python loop run the same way: the VM's speed drifts, and figures from
two runs compare only as ratios to their own loop. Results go to BENCHMARKS.md ("Command line").
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOP = "n = 0\nfor i in range(10_000_000):\n    n += i"

COMMANDS: list[tuple[str, list[str]]] = [
    ("python loop (10^7 additions)", ["-c", LOOP]),
    ("yixiang --help", ["-m", "yixiang.cli", "--help"]),
    ("yixiang check --help", ["-m", "yixiang.cli", "check", "--help"]),
    ("yixiang search --help", ["-m", "yixiang.cli", "search", "--help"]),
    ("yixiang worker --check-heartbeat", ["-m", "yixiang.cli", "worker", "--check-heartbeat"]),
    ("yixiang check", ["-m", "yixiang.cli", "check"]),
]


def cpu_seconds(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(user + system CPU, wall) of one run of ``python args``."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *args], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0  # reaped above
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yixiang-cli-bench-") as data_dir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("YIXIANG_")}
        env |= {"YIXIANG_DATA_DIR": data_dir, "YIXIANG_DEMO_DATA": "false"}
        # a migrated database and a fresh heartbeat, so `check` and the probe do their whole work
        subprocess.run([sys.executable, "-m", "yixiang.cli", "db", "upgrade"], env=env, cwd=ROOT, check=True)
        (Path(data_dir) / "worker.heartbeat").write_text("3600\n")
        print(f"{'command':<36} {'CPU s (median)':>15} {'min':>7} {'max':>7} {'wall s':>8}")
        for name, args in COMMANDS:
            runs = [cpu_seconds(args, env) for _ in range(options.runs)]
            cpu = [c for c, _ in runs]
            median, wall = statistics.median(cpu), statistics.median(w for _, w in runs)
            print(f"{name:<36} {median:>15.2f} {min(cpu):>7.2f} {max(cpu):>7.2f} {wall:>8.2f}")


if __name__ == "__main__":
    main()
