"""``yixiang oversight sensor add``: registers a sensor from the command line and prints the secret
it signs with (once); a refusal is a message and a non-zero exit."""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from oversight.secrets import unseal
from yixiang.cli import main
from yixiang.heartbeat import Heartbeat
from yixiang.settings import DEFAULT_SECRET


@pytest.mark.slow
def test_sensor_add_prints_the_topic_and_a_secret_the_sensor_signs_with(tmp_path: Path) -> None:
    env = {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_DEMO_DATA": "false", "YIXIANG_LOG_LEVEL": "ERROR"}
    assert CliRunner().invoke(main, ["demo", "load"], env=env).exit_code == 0
    with sqlite3.connect(tmp_path / "yixiang.db") as db:
        (instrument,) = db.execute(
            "SELECT id FROM instruments WHERE status = 'in_service' AND id NOT IN "
            "(SELECT instrument_id FROM oversight_sensors) LIMIT 1"  # the demo's have sensors
        ).fetchone()
    instrument_id = str(uuid.UUID(hex=instrument) if len(instrument) == 32 else instrument)

    added = CliRunner().invoke(
        main,
        ["oversight", "sensor", "add", "--sensor-id", "S-CLI-01", "--instrument", instrument_id],
        env=env,
    )
    assert added.exit_code == 0, added.output
    lines = dict(line.split(":", 1) for line in added.stdout.splitlines())
    assert lines["topic"].strip() == "yixiang/sensors/S-CLI-01/power"
    secret = lines["secret"].strip()
    with sqlite3.connect(tmp_path / "yixiang.db") as db:
        sealed, status = db.execute(
            "SELECT secret_sealed, status FROM oversight_sensors WHERE id = 'S-CLI-01'"
        ).fetchone()
    assert status == "active" and unseal(sealed, DEFAULT_SECRET, "S-CLI-01") == secret.encode()
    assert secret.encode() not in sealed  # kept encrypted

    again = CliRunner().invoke(
        main,
        ["oversight", "sensor", "add", "--sensor-id", "S-CLI-02", "--instrument", instrument_id],
        env=env,
    )
    assert again.exit_code == 1
    assert "instrument_has_sensor" in again.stderr


@pytest.mark.slow
def test_rollup_rebuilds_the_days_asked_for_from_the_sessions(tmp_path: Path) -> None:
    env = {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_DEMO_DATA": "false", "YIXIANG_LOG_LEVEL": "ERROR"}
    assert CliRunner().invoke(main, ["demo", "load"], env=env).exit_code == 0
    with sqlite3.connect(tmp_path / "yixiang.db") as db:
        (instrument,) = db.execute("SELECT id FROM instruments LIMIT 1").fetchone()
        # 2025-06-02 23:00 → 06-03 01:00 Asia/Shanghai (UTC+8), written as ingest would
        db.execute(
            "INSERT INTO oversight_usage_sessions (id, instrument_id, start_at, end_at, energy_j, source,"
            " counted, reason, annotation_note, created_at) VALUES (?, ?, '2025-06-02 15:00:00.000000',"
            " '2025-06-02 17:00:00.000000', 0, 'sensor', 1, '', '', '2025-06-03 00:00:00.000000')",
            (uuid.uuid4().hex, instrument),
        )
    rebuilt = CliRunner().invoke(
        main, ["oversight", "rollup", "--from", "2025-06-01", "--to", "2025-06-30"], env=env
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "1 instruments with usage" in rebuilt.stdout
    with sqlite3.connect(tmp_path / "yixiang.db") as db:
        rows = db.execute(
            "SELECT day, source, effective_seconds, internal_seconds FROM oversight_usage_daily"
            " WHERE day BETWEEN '2025-06-01' AND '2025-06-30' ORDER BY day"  # the demo's year has its own
        ).fetchall()
    assert rows == [("2025-06-02", "sensor", 3600, 3600), ("2025-06-03", "sensor", 3600, 3600)]
    backwards = CliRunner().invoke(
        main, ["oversight", "rollup", "--from", "2025-06-30", "--to", "2025-06-01"], env=env
    )
    assert backwards.exit_code == 2


def test_check_reports_whether_the_sensor_broker_answers(tmp_path: Path) -> None:
    env = {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_DEMO_DATA": "false", "YIXIANG_LOG_LEVEL": "ERROR"}
    up = CliRunner().invoke(
        main, ["check"], env=env | {"YIXIANG_OVERSIGHT_MQTT_URL": "mqtt://127.0.0.1:1883"}
    )
    assert "sensor broker:  answers" in up.output, up.output
    down = CliRunner().invoke(main, ["check"], env=env | {"YIXIANG_OVERSIGHT_MQTT_URL": "mqtt://127.0.0.1:9"})
    assert "sensor broker:  NOT ANSWERING" in down.output and "HTTP" in down.output, down.output


def test_the_ingest_heartbeat_check_fails_when_the_beat_is_missing_or_stale(tmp_path: Path) -> None:
    env = {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_LOG_LEVEL": "ERROR"}
    check = ["oversight", "ingest", "--check-heartbeat"]
    missing = CliRunner().invoke(main, check, env=env)
    assert missing.exit_code == 1 and "no heartbeat" in missing.stderr

    beat = tmp_path / "ingest.heartbeat"
    Heartbeat(beat, stale_after=60, every=1).beat()
    assert CliRunner().invoke(main, check, env=env).exit_code == 0

    long_ago = time.time() - 61
    os.utime(beat, (long_ago, long_ago))
    stale = CliRunner().invoke(main, check, env=env)
    assert stale.exit_code == 1 and "limit 60 s" in stale.stderr
