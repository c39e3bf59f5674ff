"""The ``yixiang`` command: answers ``--help`` and the worker's liveness probe without loading the
domains (they cost seconds of CPU), and long commands tell the operator how far they are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from yixiang.cli import main

# the web framework, the database layer, and any domain's plugin (which imports the whole domain)
HEAVY = ("litestar", "sqlalchemy", "advanced_alchemy", "alembic", "uvicorn")


def modules_loaded_by(args: list[str], data_dir: Path) -> tuple[str, list[str]]:
    """What ``yixiang args`` prints, and the heavy modules it imported, in a process of its own."""
    probe = (
        "import json, sys\n"
        "from yixiang.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m.endswith('.plugin')]\n"
        "print(json.dumps(sorted(heavy)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "YIXIANG_DATA_DIR": str(data_dir)},
    )
    assert done.returncode == 0, done.stderr
    *printed, loaded = done.stdout.strip().splitlines()
    return "\n".join(printed), json.loads(loaded)


def test_help_lists_every_command_without_loading_the_domains(tmp_path: Path) -> None:
    printed, loaded = modules_loaded_by(["--help"], tmp_path)
    for command in ("serve", "worker", "db", "demo", "check", "search", "wechat", "bot"):
        assert f"  {command} " in printed
    assert loaded == []


def test_a_domain_commands_help_loads_no_domain_either(tmp_path: Path) -> None:
    printed, loaded = modules_loaded_by(["search", "--help"], tmp_path)
    assert "reindex" in printed
    assert loaded == []


def test_the_worker_liveness_probe_loads_no_domain(tmp_path: Path) -> None:
    # the kubelet runs it every few seconds beside the worker
    (tmp_path / "worker.heartbeat").write_text("60\n")
    printed, loaded = modules_loaded_by(["worker", "--check-heartbeat"], tmp_path)
    assert printed == "worker loop: alive"
    assert loaded == []


def test_demo_load_and_reindex_show_their_progress_apart_from_their_result(tmp_path: Path) -> None:
    env = {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_DEMO_DATA": "false", "YIXIANG_LOG_LEVEL": "ERROR"}
    loaded = CliRunner().invoke(main, ["demo", "load"], env=env)
    assert loaded.exit_code == 0, loaded.output
    assert loaded.stdout.startswith("demo data loaded")
    steps = loaded.stderr.splitlines()
    assert steps[0].startswith("loading demo data: 1/") and steps[0].endswith(" domains (accounts)")
    domains = int(steps[0].split("/")[1].split()[0])
    assert steps[domains - 1].startswith(f"loading demo data: {domains}/{domains} domains (")
    assert steps[domains:] == ["loading demo data: handling its events (search index, notifications)"]

    reindexed = CliRunner().invoke(main, ["search", "reindex"], env=env)
    assert reindexed.exit_code == 0, reindexed.output
    count = int(reindexed.stdout.split()[1])  # "reindexed 40 instruments"
    assert count > 0
    assert reindexed.stderr.splitlines()[-1] == f"reindexing instruments: {count}/{count}"
