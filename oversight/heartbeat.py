"""Where the ingest role's heartbeat lives (``yixiang.heartbeat``, as the worker's): its loop
touches the file as it goes round (a batch stored, an idle wait for messages, a retry while the
broker or database is away), and ``yixiang oversight ingest --check-heartbeat`` fails when it is
older than ``ingest_heartbeat_stale_seconds`` — a process stuck in a statement or a blocked loop,
not an outage it is waiting out (restarting would not end that)."""

from __future__ import annotations

from pathlib import Path

from oversight.settings import OversightSettings
from yixiang.settings import Settings


def heartbeat_path(settings: Settings) -> Path:
    return Path(
        OversightSettings.of(settings).ingest_heartbeat_file or Path(settings.data_dir) / "ingest.heartbeat"
    )
