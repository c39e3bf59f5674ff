"""The operator hears of a coming year without the State Council's holiday arrangement 90 days
ahead: from ``yixiang check`` (a warning, not a failure) and in the start-up log."""

from __future__ import annotations

import logging
from pathlib import Path

from click.testing import CliRunner

from catalogue.workdays import WorkingDayCalendar, holiday_advisories
from yixiang.cli import main
from yixiang.clock import shanghai_today
from yixiang.runtime import Runtime


def _expected() -> list[str]:
    """What is due today (tests/test_workdays.py pins the 90-day rule to fixed dates)."""
    return [f"catalogue: {line}" for line in holiday_advisories(WorkingDayCalendar(), shanghai_today())]


def test_check_prints_the_advisories_and_still_passes(tmp_path: Path) -> None:
    env = {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_LOG_LEVEL": "WARNING"}
    upgraded = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    checked = CliRunner().invoke(main, ["check"], env=env)
    assert checked.exit_code == 0, checked.output
    printed = [line.removeprefix("advisory:").strip() for line in checked.output.splitlines()]
    expected = _expected()
    assert [line for line in printed if line.startswith("catalogue:")] == expected
    if not expected:
        assert "advisories:     none" in checked.output


async def test_start_up_logs_each_advisory_as_a_warning(backend, caplog) -> None:
    runtime = Runtime.build(backend.settings)  # the backend's database: migrated, demo loaded
    with caplog.at_level(logging.WARNING):
        try:
            await runtime.start(run_worker=False)
        finally:
            await runtime.stop()
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [message for message in logged if message.startswith("catalogue:")] == _expected()
