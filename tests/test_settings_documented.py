"""Every setting the code reads is in the README's configuration table, and the table names no
setting that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

from yixiang.settings import ENV_PREFIX, _owners, domain_sections, env_name

README = Path(__file__).resolve().parents[1] / "README.md"
# Read by the settings loader itself rather than a settings field.
LOADER_VARIABLES = {ENV_PREFIX + "CONFIG_FILE"}


def documented() -> set[str]:
    """The variables named in the first column of the README's configuration table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Configuration\n", 1)[1]
    table = section.split("\n#", 1)[0]
    names: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_*]*)`", first_cell))
    return names


def settings_read() -> set[str]:
    return {env_name(key) for key in _owners(domain_sections())}


def test_every_setting_is_in_the_readme_table():
    missing = settings_read() - documented()
    assert not missing, f"add to README's configuration table: {sorted(missing)}"


def test_the_readme_table_names_only_settings_that_exist():
    unknown = documented() - settings_read() - LOADER_VARIABLES
    assert not unknown, (
        f"README documents settings that do not exist (write each name in full): {sorted(unknown)}"
    )


def test_the_table_is_read_at_all():
    # a README whose table moved or changed shape must not pass the two tests above by accident
    assert {"YIXIANG_PROFILE", "YIXIANG_SECRET_KEY", "YIXIANG_WECHAT_APP_ID"} <= documented()
