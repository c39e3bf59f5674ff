"""What this part of the booking domain plugs into the shell (collected by booking/plugin.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from booking.controllers import (
    AvailabilityController,
    BookingController,
    ProviderCalendarController,
    QualificationController,
)
from booking.demo import load_booking_demo
from booking.events import EXPIRY_DUE, REMINDERS_DUE
from booking.jobs import expire_requests, send_reminders
from yixiang.domains import Consumer, DemoLoader, PeriodicJob

ROUTES: list[Any] = [
    BookingController,
    AvailabilityController,
    ProviderCalendarController,
    QualificationController,
]
CONSUMERS: dict[str, Sequence[Consumer]] = {EXPIRY_DUE: [expire_requests], REMINDERS_DUE: [send_reminders]}
PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob(name="booking-expire-requests", every_seconds=60, topic=EXPIRY_DUE),
    PeriodicJob(name="booking-reminders", every_seconds=300, topic=REMINDERS_DUE),
]
DEMO_LOADERS: list[DemoLoader] = [load_booking_demo]
CLI_COMMANDS: list[Any] = []
