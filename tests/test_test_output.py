"""The suite's own output: the known third-party warnings are filtered (pyproject.toml names each
by message and module), so a new warning stands out instead of drowning in ~80 lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_run_that_builds_the_app_shows_no_known_warning():
    # test_logs_and_errors starts the app (every handler's signature is checked then) and
    # imports the models (advanced-alchemy's mixins): the two sources of the known warnings.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_logs_and_errors.py", "-p", "no:randomly"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "warnings summary" not in done.stdout, done.stdout[done.stdout.find("warnings summary") :][:3000]
