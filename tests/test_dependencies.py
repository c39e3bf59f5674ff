"""Every install gets the same packages: the whole resolution is pinned with its hashes in
constraints.txt (no download address), and uv resolves under the same versions. And the
service runs without the developer tools: no runtime module imports one."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

from tests.test_layers import ALLOWED

ROOT = Path(__file__).resolve().parents[1]
PINS = ROOT / "constraints.txt"
RUNTIME_PACKAGES = sorted(ALLOWED)
REFRESH = "python3 scripts/pin_dependencies.py"


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def lock() -> dict:
    path = ROOT / "uv.lock"
    # `uv run` writes it before running anything; it is not committed (it records addresses)
    assert path.exists(), "no uv.lock: run the tests with `uv run pytest` (or run `uv lock`)"
    return tomllib.loads(path.read_text(encoding="utf-8"))


@cache
def pins() -> dict[tuple[str, str], set[str]]:
    """(name, version) -> hashes, from constraints.txt."""
    pinned: dict[tuple[str, str], set[str]] = {}
    current: set[str] = set()
    for line in PINS.read_text(encoding="utf-8").splitlines():
        if line and line[0].isalnum():
            name, version = line.split(";")[0].removesuffix("\\").strip().split("==")
            current = pinned.setdefault((normalized(name), version), set())
        elif line.strip().startswith("--hash="):
            current.add(line.strip().removeprefix("--hash=").removesuffix("\\").strip())
    return pinned


def test_the_pins_carry_versions_and_hashes_but_no_download_address() -> None:
    text = PINS.read_text(encoding="utf-8")
    assert "://" not in text and "git+" not in text and " @ " not in text
    for line in text.splitlines():
        if line and line[0].isalnum():
            assert re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+( ; .+)? \\", line), line
    assert all(pins().values()), f"a pin without hashes: {[k for k, v in pins().items() if not v]}"


def test_every_package_of_the_resolution_is_pinned_with_the_hashes_uv_installs() -> None:
    resolved: dict[tuple[str, str], set[str]] = {}
    for package in lock()["package"]:
        if "registry" not in package["source"]:
            continue  # the project itself
        files = [package.get("sdist"), *package.get("wheels", [])]
        resolved[(normalized(package["name"]), package["version"])] = {f["hash"] for f in files if f}
    missing = sorted(set(resolved) - set(pins()))
    assert not missing, f"resolved but not pinned (refresh with `{REFRESH}`): {missing}"
    stale = sorted(set(pins()) - set(resolved))
    assert not stale, f"pinned but not resolved (refresh with `{REFRESH}`): {stale}"
    differ = sorted(key for key in resolved if resolved[key] != pins()[key])
    assert not differ, f"uv.lock's files are not the pinned ones: {differ}"


def test_uv_resolves_under_the_pinned_versions() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    constraints = pyproject["tool"]["uv"]["constraint-dependencies"]
    versions = {(normalized(c.split("==")[0]), c.split("==")[1].split(";")[0].strip()) for c in constraints}
    assert versions == set(pins()), f"pyproject.toml's [tool.uv] and constraints.txt differ: run `{REFRESH}`"


# --- the service without the developer tools --------------------------------------------


def _closure(roots: list[dict], packages: dict[str, list[dict]]) -> set[str]:
    """The packages ``roots`` need, extras included, from uv.lock's dependency lists."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        dependency = todo.pop()
        name = normalized(dependency["name"])
        for extra in dependency.get("extra", []):
            todo.extend(packages[f"{name}[{extra}]"])
        if name not in seen:
            seen.add(name)
            todo.extend(packages[name])
    return seen


@cache
def developer_modules() -> frozenset[str]:
    """The top-level modules only the dev group brings (pytest, mypy, moto, flask, ...)."""
    packages: dict[str, list[dict]] = {}
    project: dict = {}
    for package in lock()["package"]:
        name = normalized(package["name"])
        if "registry" not in package["source"]:
            project = package
        packages[name] = packages.get(name, []) + package.get("dependencies", [])
        for extra, deps in package.get("optional-dependencies", {}).items():
            packages[f"{name}[{extra}]"] = deps
    runtime = _closure(project["dependencies"], packages)
    everything = _closure(project["dependencies"] + project["dev-dependencies"]["dev"], packages)
    developer_only = everything - runtime
    assert {"pytest", "mypy", "ruff", "moto", "schemathesis", "hypothesis"} <= developer_only
    modules = {
        module
        for module, distributions in importlib.metadata.packages_distributions().items()
        if all(normalized(d) in developer_only for d in distributions)
        and any(normalized(d) in developer_only for d in distributions)
    }
    return frozenset(m for m in modules if not m.startswith("_") or m.startswith("_pytest"))


def _runtime_imports() -> list[tuple[str, int, str]]:
    """Every import in the runtime packages, in functions too, leaving out ``if TYPE_CHECKING:``."""
    found = []
    for package in RUNTIME_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            typing_only = {
                id(child)
                for node in ast.walk(tree)
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                for statement in node.body
                for child in ast.walk(statement)
            }
            for node in ast.walk(tree):
                if id(node) in typing_only:
                    continue
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.append((str(path.relative_to(ROOT)), node.lineno, node.module))
                elif isinstance(node, ast.Import):
                    found.extend((str(path.relative_to(ROOT)), node.lineno, a.name) for a in node.names)
    return found


def test_no_runtime_module_imports_a_developer_tool() -> None:
    blocked = developer_modules()
    wrong = [f"{path}:{line} imports {module}" for path, line, module in _runtime_imports()
             if module.split(".")[0] in blocked]  # fmt: skip
    assert not wrong, "the service would need the dev group installed:\n" + "\n".join(wrong)


# Imports each runtime module, builds the app and runs the CLI in a process where importing a
# developer tool fails, as it does in the image (which installs no dev group).
BLOCKED_RUN = """
import importlib, importlib.abc, json, pkgutil, sys
blocked = set(json.loads(sys.argv[1]))

class WithoutDeveloperTools:
    # finds no developer tool: to the code (its find_spec probes too) they are absent

    def __init__(self, finder):
        self.finder = finder

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            return None
        return self.finder.find_spec(name, path, target)

    def __getattr__(self, name):  # find_distributions, invalidate_caches ...
        return getattr(self.finder, name)

assert not blocked & {name.split(".")[0] for name in sys.modules}
sys.meta_path[:] = [WithoutDeveloperTools(finder) for finder in sys.meta_path]
for package in json.loads(sys.argv[2]):
    importlib.import_module(package)
    for module in pkgutil.walk_packages(sys.modules[package].__path__, package + "."):
        if ".migrations" not in module.name:  # alembic's scripts: `db upgrade` below runs them
            importlib.import_module(module.name)
from yixiang.app import create_app
from yixiang.cli import main
create_app()
for args in (["--help"], ["db", "upgrade"], ["check"]):
    try:
        main(args)
    except SystemExit as exit:
        assert not exit.code, (args, exit.code)
print("ok")
"""


@pytest.mark.slow
def test_the_service_starts_and_checks_with_the_developer_tools_blocked(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCKED_RUN,
            json.dumps(sorted(developer_modules())),
            json.dumps(RUNTIME_PACKAGES),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_LOG_LEVEL": "WARNING"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "ok"
    assert "schema up to date" in done.stdout
