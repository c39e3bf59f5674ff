"""The migrations build what the models say: autogenerate against a migrated database finds
nothing to do, on either engine (so `yixiang db revision` proposes only a real change, and never
drops the hand-made search index)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from yixiang.metadata import metadata
from yixiang.migrate import include_object


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "include_object": include_object(connection.dialect.name)},
    )
    return list(compare_metadata(context, metadata))


async def test_autogenerate_finds_nothing_to_change_on_a_migrated_database(backend):
    async with backend.runtime.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
