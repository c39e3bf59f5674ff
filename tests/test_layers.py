"""Dependencies point one way: a package imports only from the packages below it (DESIGN §5).

Read from the source with ``ast``, function-level imports included, so a new upward import
fails here before it tangles the tree. The shell loads the domains by module path (their
plugins), never by import.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each package and the packages it may import (besides itself). Lower layers first.
ALLOWED: dict[str, set[str]] = {
    "yixiang": set(),
    "accounts": {"yixiang"},
    "catalogue": {"accounts", "yixiang"},
    "vouchers": {"accounts", "yixiang"},
    "booking": {"catalogue", "vouchers", "accounts", "yixiang"},
    "results": {"booking", "catalogue", "accounts", "yixiang"},
    "ratings": {"booking", "catalogue", "accounts", "yixiang"},
    "search": {"booking", "catalogue", "accounts", "yixiang"},
    "oversight": {"search", "results", "ratings", "booking", "catalogue", "vouchers", "accounts", "yixiang"},
    "bot": {"search", "results", "ratings", "booking", "catalogue", "vouchers", "accounts", "yixiang"},
    # personal data (PIPL): what every domain holds about a user, exported or erased
    "privacy": {"bot", "results", "ratings", "booking", "catalogue", "vouchers", "accounts", "yixiang"},
    # the desk console: pages over every domain's services (nothing imports it)
    "console": {
        *("privacy", "oversight", "bot", "search", "results", "ratings", "booking", "catalogue", "vouchers"),
        *("accounts", "yixiang"),
    },
}
# Narrower seams: a package that may reach another only through the modules named here.
SEAMS: dict[tuple[str, str], set[str]] = {
    ("search", "booking"): {"booking.free_time"},  # free time in a date range, for the filter
    ("oversight", "results"): {"results.storage"},  # the object storage old readings are archived to
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def test_every_package_imports_only_from_the_packages_below_it() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, module in imports_of(path):
                top = module.split(".")[0]
                if top == package or top not in ALLOWED:
                    continue
                where = f"{path.relative_to(ROOT)}:{line} imports {module}"
                if top not in allowed:
                    wrong.append(where)
                elif (package, top) in SEAMS and not any(
                    module == seam or module.startswith(seam + ".") for seam in SEAMS[(package, top)]
                ):
                    wrong.append(where + f" (only {', '.join(sorted(SEAMS[(package, top)]))} is open to it)")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_every_package_of_the_tree_has_its_place_in_the_layers() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages == set(ALLOWED)
