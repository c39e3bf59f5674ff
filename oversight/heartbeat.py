"""The ingest role's heartbeat, for a liveness probe: the time its loop last went round (a batch
stored, an idle wait for messages, a retry while the broker or database is away) in a file, and
``yixiang oversight ingest --check-heartbeat``, which fails when that is older than
``ingest_heartbeat_stale_seconds`` — a process stuck in a statement or a blocked loop, not an
outage it is waiting out (restarting would not end that)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from oversight.settings import OversightSettings
from yixiang.db import utcnow
from yixiang.settings import Settings


def heartbeat_path(settings: Settings) -> Path:
    return Path(
        OversightSettings.of(settings).ingest_heartbeat_file or Path(settings.data_dir) / "ingest.heartbeat"
    )


class Heartbeat:
    """Writes the time to the file at most once per ``every`` seconds (the loop goes round often)."""

    def __init__(self, path: Path, every: float) -> None:
        self.path, self.every = path, every
        self._last: datetime | None = None

    def beat(self) -> None:
        now = utcnow()
        if self._last is not None and (now - self._last).total_seconds() < self.every:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(now.isoformat())
        os.replace(partial, self.path)  # a reader never sees half a time
        self._last = now


def heartbeat_age(path: Path, now: datetime | None = None) -> float | None:
    """Seconds since the last beat; None when there is none (no file, or not a time)."""
    try:
        last = datetime.fromisoformat(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return ((now or utcnow()) - last).total_seconds()
