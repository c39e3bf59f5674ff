"""``yixiang search ...`` commands."""

from __future__ import annotations

from typing import Any

import click


@click.group("search")
def search_group() -> None:
    """The instrument search index."""


@search_group.command("reindex")
def reindex_command() -> None:
    """Rebuild the index from the catalogue without downtime (new index, then swap)."""
    from search.dependencies import SEARCH_BACKEND
    from search.sync import reindex
    from yixiang.cli import run_with_runtime

    async def work(runtime: Any) -> int:
        return await reindex(runtime.session_maker, runtime.services[SEARCH_BACKEND])

    count = run_with_runtime(work)
    click.echo(f"reindexed {count} instruments")
