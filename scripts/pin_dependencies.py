"""Pin every package of the resolution, with its hashes and without download addresses.

    python3 scripts/pin_dependencies.py             # after changing a version in pyproject.toml
    python3 scripts/pin_dependencies.py --upgrade   # also move the indirect packages to their newest

Resolves pyproject.toml (the project's dependencies and the dev group) with uv in a scratch copy
whose old pins are removed (the local uv.lock, if any, as preferences unless ``--upgrade``), and
writes from that one resolution:

- ``constraints.txt``: every package ``==version`` with its ``--hash`` lines (``uv export``), no
  addresses. The Dockerfile installs from it with ``--require-hashes``.
- pyproject.toml's ``[tool.uv] constraint-dependencies``: the same versions, under which every
  ``uv sync`` / ``uv run`` resolves (uv reads no constraints file in a project).

then locks here, so the local uv.lock (not committed: it records download addresses) follows.
``tests/test_dependencies.py`` checks that uv.lock, constraints.txt and pyproject.toml agree,
hashes included. Standard library only; needs ``uv`` on the PATH.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "constraints.txt"
PYPROJECT = ROOT / "pyproject.toml"
HEADER = """\
# Every package the project resolves to (its dependencies and the dev group), pinned with the
# hashes of its files and no download address. Written by `python3 scripts/pin_dependencies.py`
# (README "Dependencies"), not by hand; pyproject.toml's [tool.uv] constraint-dependencies holds
# the same versions for uv sync, and the Dockerfile installs from this file with --require-hashes.
"""
# pyproject.toml's [tool.uv] table, up to the next table or the end
TOOL_UV = re.compile(r"^\[tool\.uv\]\n.*?(?=^\[|\Z)", re.MULTILINE | re.DOTALL)


def pinned_specs(pins: str) -> list[str]:
    """The ``name==version[ ; marker]`` of each requirement in a requirements file's text."""
    return [line.removesuffix("\\").strip() for line in pins.splitlines() if line and line[0].isalnum()]


def tool_uv_table(specs: list[str]) -> str:
    # A package at one version is pinned whatever the platform (a marker would leave it free
    # elsewhere); one at several versions (one per Python) keeps the markers that tell them apart.
    names = [spec.split("==")[0] for spec in specs]
    lines = "".join(
        f'    "{spec if names.count(spec.split("==")[0]) > 1 else spec.split(" ;")[0]}",\n' for spec in specs
    )
    return (
        "[tool.uv]\n"
        "# The versions constraints.txt pins with their hashes, for every uv sync and uv run: written\n"
        '# by scripts/pin_dependencies.py from one resolution (README "Dependencies"), not by hand.\n'
        f"constraint-dependencies = [\n{lines}]\n"
    )


def uv(*args: str, cwd: Path) -> str:
    done = subprocess.run(["uv", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"uv {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upgrade", action="store_true", help="resolve the indirect packages anew")
    options = parser.parse_args()
    if shutil.which("uv") is None:
        sys.exit("uv is not on the PATH (README: Quick start)")

    pyproject = PYPROJECT.read_text(encoding="utf-8")
    unpinned = TOOL_UV.sub("", pyproject).rstrip("\n") + "\n"
    with tempfile.TemporaryDirectory(prefix="yixiang-pins-") as scratch:
        work = Path(scratch)
        (work / "pyproject.toml").write_text(unpinned, encoding="utf-8")
        shutil.copy(ROOT / "README.md", work / "README.md")
        if (ROOT / "uv.lock").exists() and not options.upgrade:
            shutil.copy(ROOT / "uv.lock", work / "uv.lock")  # keeps the versions it can
        uv("lock", "--quiet", cwd=work)
        pins = uv(
            "export", "--frozen", "--all-groups", "--no-emit-project", "--no-header",
            "--format", "requirements-txt", cwd=work,
        )  # fmt: skip
    if "://" in pins:
        sys.exit("uv export wrote a download address into the pins: refusing to write them")
    specs = pinned_specs(pins)
    PINS.write_text(HEADER + pins, encoding="utf-8")
    PYPROJECT.write_text(unpinned.rstrip("\n") + "\n\n" + tool_uv_table(specs), encoding="utf-8")
    uv("lock", "--quiet", cwd=ROOT)
    print(f"pinned {len(specs)} packages in {PINS.name} and pyproject.toml [tool.uv]")


if __name__ == "__main__":
    main()
