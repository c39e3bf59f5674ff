"""Oversight (一网办) as the shell sees it: routes, and the catalogue's changes it listens to."""

from __future__ import annotations

import uuid
from typing import Any

from booking.events import transition_topic
from booking.models import BookingStatus
from booking.sensed import SENSED_USE
from catalogue.events import INSTRUMENT_CHANGED
from catalogue.live import LIVE_STATUS
from oversight.archive import archive_due
from oversight.complaint_controllers import ComplaintController
from oversight.controllers import LiveStatusController, SensorController, UsageController
from oversight.deadline_controllers import OverdueController
from oversight.demo import load_oversight_demo, load_usage_rollup_demo
from oversight.evaluation_controllers import EvaluationController, PublicEvaluationController
from oversight.evaluation_demo import load_complaint_demo, load_evaluation_demo
from oversight.idle import IDLE_CHECK_DUE, IDLE_STEP, check_idle
from oversight.idle_controllers import IdleController
from oversight.indicator_controllers import IndicatorController
from oversight.live import LiveStatusService
from oversight.notices import notify_idle_step
from oversight.report_controllers import PublicYearlyReportController, YearlyReportController
from oversight.report_demo import load_yearly_bookings_demo, load_yearly_report_demo
from oversight.review_controllers import PurchaseReviewController
from oversight.review_demo import load_review_demo
from oversight.reward_controllers import ROUTES as REWARD_ROUTES
from oversight.reward_demo import load_reward_services_demo, load_rewards_demo
from oversight.rollup import ROLLUP_DUE, mark_booking_days, refresh_all_stale
from oversight.sensed import SensedUseService
from oversight.sensors import retire_sensors_of_retired_instruments
from oversight.settings import OversightSettings
from results.storage import create_storage
from yixiang.domains import Domain, JobContext, PeriodicJob
from yixiang.outbox import Event
from yixiang.settings import Settings


async def remove_sensors_of_retired_instruments(ctx: JobContext, event: Event) -> None:
    """大仪报废时同步移除传感器 (seed 004): an instrument marked retired loses its sensor."""
    await retire_sensors_of_retired_instruments(
        ctx.session, [uuid.UUID(i) for i in event.payload.get("instrument_ids", [])]
    )


async def find_idle_instruments(ctx: JobContext, event: Event) -> None:
    """The daily idle check (run hourly: each step is stamped and announced once, so a run
    that finds nothing new changes nothing)."""
    await check_idle(ctx.session)


async def mark_booked_days_stale(ctx: JobContext, event: Event) -> None:
    """A machine-time booking confirmed, cancelled or not shown up for changes its days' external
    hours in the roll-up."""
    await mark_booking_days(ctx.session, event.payload)


async def refresh_usage_rollup(ctx: JobContext, event: Event) -> None:
    """Recompute the roll-up's stale days (every minute)."""
    await refresh_all_stale(ctx.session)


READINGS_ARCHIVE_DUE = "oversight.readings_archive_due"  # periodic: archive the months of readings due


async def archive_old_readings(ctx: JobContext, event: Event) -> None:
    """Move the readings of every due month to the object storage (``oversight.archive``). The
    delivery mark commits first: the archive commits step by step, and on SQLite the export must
    not hold the write lock. A run cut short is finished by the next (the archive resumes)."""
    await ctx.session.commit()
    await archive_due(
        ctx.session,
        create_storage(ctx.settings),
        kept_months=OversightSettings.of(ctx.settings).readings_kept_months,
    )


# Transitions that put a booking's window among the booked ones or take it out of them
WINDOW_TOPICS = [
    transition_topic(s) for s in (BookingStatus.confirmed, BookingStatus.cancelled, BookingStatus.no_show)
]


async def register_services(runtime: Any) -> None:
    runtime.services[LIVE_STATUS] = LiveStatusService(
        OversightSettings.of(runtime.settings).live_status_search_seconds
    )
    runtime.services[SENSED_USE] = SensedUseService()


async def probe_broker(settings: Settings) -> list[tuple[str, str]]:
    from oversight.mqtt import broker_answers  # the MQTT client (~5 MB) only where it runs

    answers, failure = await broker_answers(settings)
    if answers:
        return [("sensor broker", "answers")]
    return [("sensor broker", f"NOT ANSWERING ({failure}): MQTT readings wait; the HTTP path still works")]


DOMAIN = Domain(
    name="oversight",
    route_handlers=[
        SensorController,
        UsageController,
        LiveStatusController,
        IdleController,
        PublicYearlyReportController,
        YearlyReportController,
        ComplaintController,
        *REWARD_ROUTES,
        PurchaseReviewController,
        EvaluationController,
        PublicEvaluationController,
        IndicatorController,
        OverdueController,
    ],
    consumers={
        INSTRUMENT_CHANGED: [remove_sensors_of_retired_instruments],
        IDLE_CHECK_DUE: [find_idle_instruments],
        ROLLUP_DUE: [refresh_usage_rollup],
        READINGS_ARCHIVE_DUE: [archive_old_readings],
        **{topic: [mark_booked_days_stale] for topic in WINDOW_TOPICS},
        IDLE_STEP: [notify_idle_step],
    },
    on_startup=[register_services],
    probes=probe_broker,
    periodic_jobs=[
        PeriodicJob(name="oversight-idle-check", every_seconds=3600, topic=IDLE_CHECK_DUE),
        PeriodicJob(name="oversight-usage-rollup", every_seconds=60, topic=ROLLUP_DUE),
        PeriodicJob(name="oversight-readings-archive", every_seconds=86_400, topic=READINGS_ARCHIVE_DUE),
    ],
    # the sensors and their year of usage; 2025's services and bookings; their days' roll-up; the evaluation
    # of 2025 (counting them); the complaints; the rewards (reading its grades); the purchase
    # review; the yearly report last: it is published from every other record
    demo_loaders=[
        load_oversight_demo,
        load_reward_services_demo,
        load_yearly_bookings_demo,
        load_usage_rollup_demo,
        load_evaluation_demo,
        load_complaint_demo,
        load_rewards_demo,
        load_review_demo,
        load_yearly_report_demo,
    ],
)
