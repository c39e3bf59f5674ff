"""What this part of the booking domain plugs into the shell (collected by booking/plugin.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from yixiang.domains import Consumer, DemoLoader, PeriodicJob

ROUTES: list[Any] = []
CONSUMERS: dict[str, Sequence[Consumer]] = {}
PERIODIC_JOBS: list[PeriodicJob] = []
DEMO_LOADERS: list[DemoLoader] = []
CLI_COMMANDS: list[Any] = []
