"""The worker's heartbeat: a file its loop touches, so a liveness probe can tell a hung loop.

A worker process that is alive but stuck (a consumer waiting forever, a deadlock) drains
nothing and never exits, so the kubelet would never restart it. The loop touches the file
once per turn; ``yixiang worker --check-heartbeat`` fails once the file is older than the age
the worker wrote into it. The check reads no settings and imports no domain: an exec probe
runs it every few seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

HEARTBEAT_FILE = "worker.heartbeat"
# A file without a readable age (written by hand, truncated): judged by this one.
DEFAULT_STALE_AFTER = 120.0


def heartbeat_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / HEARTBEAT_FILE


class Heartbeat:
    """Touched by the worker's loop; writes the age after which the loop counts as hung."""

    def __init__(self, path: Path, stale_after: float, *, every: float = 1.0) -> None:
        self.path = path
        self.stale_after = stale_after
        self.every = every  # a loop turning many times a second touches the file once a second
        self._last = float("-inf")

    def beat(self) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        if self._last == float("-inf"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # Rewritten, not only touched: a file removed meanwhile comes back.
        self.path.write_text(f"{self.stale_after:g}\n", encoding="ascii")
        self._last = now


def heartbeat_problem(path: Path, max_age: float | None = None) -> str | None:
    """Why the loop behind ``path`` (the worker's, the sensor ingest's) counts as hung (None: it
    beat recently enough)."""
    try:
        age = time.time() - path.stat().st_mtime
        written = path.read_text(encoding="ascii").strip()
    except OSError:
        return f"no heartbeat at {path}: the loop has not started"
    if max_age is None:
        try:
            max_age = float(written)
        except ValueError:
            max_age = DEFAULT_STALE_AFTER
    if age > max_age:
        return f"heartbeat {path} is {age:.0f} s old (limit {max_age:g} s): the loop is stuck"
    return None
