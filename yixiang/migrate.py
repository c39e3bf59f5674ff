"""Running Alembic migrations from code: ``yixiang db upgrade`` and the embedded start-up.

Alembic is imported when a migration runs, not with this module: an API process that does not
migrate at start (production: a Job does) does not hold it (~6 MB with mako).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str = "") -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


# Kept by hand, on one engine only, outside the metadata: SQLite's FTS5 index (and the shadow
# tables FTS5 makes) and its keys table (search/sqlite_index.py), PostgreSQL's tsvector column
# and its GIN index (search/postgres_index.py). Autogenerate must not drop them.
HAND_MADE_TABLES = ("search_fts", "search_keys")
HAND_MADE = {("column", "tsv"), ("index", "ix_search_documents_tsv")}


def include_object(dialect: str) -> Callable[..., bool]:
    """Autogenerate's filter: what the metadata does not describe on ``dialect`` is left alone —
    the hand-made objects above, and the metadata's objects made for another engine only
    (``ddl_if(dialect=...)``), which autogenerate would otherwise create everywhere."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if reflected and compare_to is None:
            if type_ == "table" and (name or "").startswith(HAND_MADE_TABLES):
                return False
            if (type_, name) in HAND_MADE:
                return False
        only_on = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        return only_on is None or only_on == dialect

    return include


def _upgrade(connection: Connection, revision: str) -> list[tuple[str, str]]:
    from alembic import command

    before = _current(connection)
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)
    after = _current(connection)
    if after == before:
        return []
    from alembic.script import ScriptDirectory

    applied = ScriptDirectory.from_config(cfg).iterate_revisions(tuple(after), tuple(before) or "base")
    return [(script.revision, script.doc or "") for script in reversed(list(applied))]


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> list[tuple[str, str]]:
    """Migrate to ``revision``; returns the migrations applied, oldest first, as (revision, what
    it does): the operator sees what changed, not only that the schema is now current."""
    async with engine.begin() as connection:
        return await connection.run_sync(_upgrade, revision)


def _current(connection: Connection) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(connection).get_current_heads())


async def current_revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


def head_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def make_revision(url: str, message: str) -> None:
    """Autogenerate a revision against ``url`` (review it by hand before committing)."""
    from alembic import command

    command.revision(alembic_config(url), message=message, autogenerate=True)
