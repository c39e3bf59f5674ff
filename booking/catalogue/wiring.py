"""What this part of the booking domain plugs into the shell (collected by booking/plugin.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from booking.catalogue.controllers import (
    InstrumentController,
    ProviderInstrumentController,
    WorkingDayController,
)
from booking.catalogue.demo import load_catalogue_demo
from yixiang.domains import Consumer, DemoLoader, PeriodicJob

ROUTES: list[Any] = [InstrumentController, ProviderInstrumentController, WorkingDayController]
CONSUMERS: dict[str, Sequence[Consumer]] = {}
PERIODIC_JOBS: list[PeriodicJob] = []
DEMO_LOADERS: list[DemoLoader] = [load_catalogue_demo]
CLI_COMMANDS: list[Any] = []
