"""``yixiang oversight ...``: register sensors, the ingest role that takes their MQTT messages, the
roll-up, the simulator, and the archive of old readings (and their restore)."""

from __future__ import annotations

import sys
import uuid
from typing import Any

import click


@click.group("oversight")
def oversight_group() -> None:
    """Sensors, usage and idle instruments (一网办)."""


@oversight_group.group("sensor")
def sensor_group() -> None:
    """The sensor registry."""


@sensor_group.command("add")
@click.option("--sensor-id", required=True, help="The sensor's id: what it sends and its MQTT topic level.")
@click.option(
    "--instrument", "instrument_id", required=True, type=click.UUID, help="The instrument it measures."
)
@click.option("--firmware", default="", help="Firmware version, if known.")
@click.option("--reason", default="命令行登记", show_default=True, help="Recorded in the sensor's history.")
def sensor_add(sensor_id: str, instrument_id: uuid.UUID, firmware: str, reason: str) -> None:
    """Register a sensor on an instrument and print its secret (shown once: load it into the sensor)."""
    from oversight.sensors import register_sensor
    from oversight.topics import topic_of
    from yixiang.cli import run_with_runtime
    from yixiang.errors import DomainError

    async def work(runtime: Any) -> str | None:
        async with runtime.session_maker() as session:
            try:
                _, secret = await register_sensor(
                    session,
                    None,
                    sensor_id=sensor_id,
                    instrument_id=instrument_id,
                    secret_key=runtime.settings.secret_key,
                    firmware=firmware,
                    reason=reason,
                )
            except DomainError as exc:
                click.echo(f"sensor not added: {exc.message} ({exc.code})", err=True)
                return None
        return str(secret)

    secret = run_with_runtime(work)
    if secret is None:
        sys.exit(1)
    click.echo(f"sensor:  {sensor_id}")
    click.echo(f"topic:   {topic_of(sensor_id)}")
    click.echo(f"secret:  {secret}")


@oversight_group.command("ingest")
@click.option(
    "--check-heartbeat",
    is_flag=True,
    help="Do not ingest: exit 1 when the ingest role's heartbeat is missing or stale (a liveness probe).",
)
def ingest_command(check_heartbeat: bool) -> None:
    """Subscribe to the sensors' MQTT topics and store their readings (run as many as needed)."""
    import asyncio
    import signal

    from oversight.mqtt import run_ingest
    from yixiang.cli import run_with_runtime

    if check_heartbeat:
        _check_heartbeat()
        return

    async def work(runtime: Any) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stats = await run_ingest(runtime.session_maker, runtime.settings, stop)
        click.echo(f"stopped: {stats.accepted} readings stored, {stats.refused} refused", err=True)

    run_with_runtime(work)


def _check_heartbeat() -> None:
    from oversight.heartbeat import heartbeat_path
    from yixiang.cli import _settings
    from yixiang.heartbeat import heartbeat_problem

    problem = heartbeat_problem(heartbeat_path(_settings()))  # the limit is in the file
    if problem is not None:
        click.echo(problem, err=True)
        sys.exit(1)
    click.echo("heartbeat: the ingest loop is going round")


@oversight_group.command("rollup")
@click.option(
    "--from", "first", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (Asia/Shanghai)."
)
@click.option("--to", "last", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day, included.")
def rollup_command(first: Any, last: Any) -> None:
    """Rebuild the daily usage roll-up of every instrument for the days given."""
    from oversight.rollup import rebuild
    from yixiang.cli import run_with_runtime

    if last < first:
        click.echo("--to must not be before --from", err=True)
        sys.exit(2)

    async def work(runtime: Any) -> int:
        async with runtime.session_maker() as session:
            return await rebuild(session, first.date(), last.date())

    count = run_with_runtime(work)
    click.echo(f"roll-up rebuilt from {first.date()} to {last.date()}: {count} instruments with usage")


@oversight_group.command("archive-readings")
@click.option(
    "--month",
    help="Only this month (YYYY-MM, Asia/Shanghai), if due; a restored month is archived again.",
)
def archive_readings_command(month: str | None) -> None:
    """Move the sensor readings of due months to the object storage (the worker does it daily)."""
    from oversight.archive import archive_due, archive_month
    from oversight.archive_months import month_label, parse_month
    from oversight.settings import OversightSettings
    from results.storage import create_storage
    from yixiang.cli import run_with_runtime
    from yixiang.errors import DomainError

    async def work(runtime: Any) -> list[Any] | None:
        kept = OversightSettings.of(runtime.settings).readings_kept_months
        storage = create_storage(runtime.settings)
        async with runtime.session_maker() as session:
            try:
                if month is None:
                    return await archive_due(session, storage, kept_months=kept, step=_progress)
                outcome = await archive_month(
                    session, storage, parse_month(month), kept_months=kept, step=_progress
                )
            except DomainError as exc:
                click.echo(f"readings not archived: {exc.message} ({exc.code})", err=True)
                return None
        if outcome is None:
            click.echo(f"{month}: no readings to archive")
            return []
        return [outcome]

    outcomes = run_with_runtime(work)
    if outcomes is None:
        sys.exit(1)
    for o in outcomes:
        click.echo(
            f"{month_label(o.month)}: {o.row_count} readings in {o.object_key} (sha256 {o.sha256}, "
            f"{o.bytes} bytes); {o.rows_deleted} rows deleted now"
        )
    if not outcomes and month is None:
        click.echo("no month of readings is due")


async def _progress(month: Any, step: str, rows: int) -> None:
    """A step of the archive or restore, on stderr: stdout keeps only the result."""
    from oversight.archive_months import month_label

    click.echo(f"{month_label(month)}: {step} {rows} rows", err=True)


@oversight_group.command("restore-readings")
@click.argument("month")
def restore_readings_command(month: str) -> None:
    """Put an archived month's sensor readings (YYYY-MM) back into the database."""
    from oversight.archive import restore_month
    from oversight.archive_months import month_label, parse_month
    from results.storage import create_storage
    from yixiang.cli import run_with_runtime
    from yixiang.errors import DomainError

    async def work(runtime: Any) -> Any:
        async with runtime.session_maker() as session:
            try:
                return await restore_month(
                    session, create_storage(runtime.settings), parse_month(month), step=_progress
                )
            except DomainError as exc:
                click.echo(f"readings not restored: {exc.message} ({exc.code})", err=True)
                return None

    outcome = run_with_runtime(work)
    if outcome is None:
        sys.exit(1)
    click.echo(
        f"{month_label(outcome.month)}: {outcome.rows_inserted} of the {outcome.row_count} readings in "
        f"{outcome.object_key} put back (the others were there)"
    )


@oversight_group.command("simulate")
@click.option(
    "--sensors",
    "count",
    default=20,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="How many of the registered sensors report (those whose secret this installation reads).",
)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.01),
    help="How much faster than the clock the backfilled hours are replayed.",
)
@click.option(
    "--backfill-hours",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 24 * 31),
    help="Start this long before now (the readings catch up with now at --speed).",
)
@click.option(
    "--direct",
    is_flag=True,
    help="Store through the ingest service (as the HTTP gateway path does) instead of MQTT.",
)
def simulate_command(count: int, speed: float, backfill_hours: float, direct: bool) -> None:
    """Realistic signed readings for the sensors (working hours, idle instruments, drop-outs)."""
    import asyncio
    import signal
    from datetime import timedelta

    from oversight.simulator import simulate
    from yixiang.cli import run_with_runtime

    async def work(runtime: Any) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stats = await simulate(
            runtime.session_maker,
            runtime.settings,
            sensors=count,
            speed=speed,
            direct=direct,
            backfill=timedelta(hours=backfill_hours),
            stop=stop,
        )
        click.echo(f"stopped: {stats.sent} readings sent", err=True)

    run_with_runtime(work)


COMMANDS = [oversight_group]
