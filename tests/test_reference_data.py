"""Reference data every installation needs — the administrative divisions organisations are in,
the instrument classification instruments are filed under — comes with the schema, whatever the
demo setting: a production database without demo data could otherwise register no organisation
and list no instrument."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from accounts.regions import regions
from catalogue.categories import categories
from yixiang.cli import main
from yixiang.runtime import Runtime
from yixiang.settings import build_settings


def counts(data_dir: Path) -> tuple[int, int, int]:
    with sqlite3.connect(data_dir / "yixiang.db") as db:
        return (
            db.execute("SELECT count(*) FROM regions").fetchone()[0],
            db.execute("SELECT count(*) FROM instrument_categories").fetchone()[0],
            db.execute("SELECT count(*) FROM users").fetchone()[0],
        )


def test_db_upgrade_brings_the_reference_data_and_no_demo_data(tmp_path: Path) -> None:
    env = {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_LOG_LEVEL": "ERROR"}
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert counts(tmp_path) == (len(regions()), len(categories()), 0)
    # a second upgrade finds everything there and adds nothing
    assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    assert counts(tmp_path) == (len(regions()), len(categories()), 0)


async def test_a_start_without_demo_data_still_has_the_reference_data(tmp_path: Path) -> None:
    settings = build_settings(
        {"data_dir": str(tmp_path), "demo_data": False, "auto_migrate": True, "log_level": "ERROR"}
    )
    runtime = Runtime.build(settings)
    await runtime.start(run_worker=False)
    await runtime.stop()
    assert counts(tmp_path) == (len(regions()), len(categories()), 0)
