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
    from yixiang.cli import run_with_runtime, show_progress

    async def work(runtime: Any) -> int:
        backend = runtime.services[SEARCH_BACKEND]
        return await reindex(runtime.session_maker, backend, show_progress("reindexing instruments"))

    count = run_with_runtime(work)
    click.echo(f"reindexed {count} instruments")


COMMANDS = [search_group]
