"""Several server processes starting together (``serve --workers 2``, replicas) migrate and load
the demo data once between them, without tripping over each other."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from accounts.demo import ACCOUNTS
from accounts.models import User
from tests.fakes.meilisearch import FakeMeilisearch
from tests.support import create_database, drop_database, make_settings
from yixiang.runtime import Runtime


async def test_two_processes_starting_at_once_load_the_demo_once(backend, tmp_path):
    settings = make_settings(backend.name, tmp_path)
    await create_database(settings)
    first, second = Runtime.build(settings), Runtime.build(settings)
    try:
        await asyncio.gather(first.start(run_worker=False), second.start(run_worker=False))
        async with first.session_maker() as session:
            users = await session.scalar(
                select(func.count()).select_from(User).where(User.username.like("demo-%"))
            )
        assert users == len(ACCOUNTS)  # each demo account once
    finally:
        await first.stop()
        await second.stop()
        await drop_database(settings)


@pytest.mark.slow
def test_the_serve_command_does_not_load_the_domains():
    # ``serve --workers N`` keeps this process as uvicorn's supervisor for the server's lifetime:
    # the domains (and their ~100 MB) belong in the workers only.
    probe = (
        "import sys, click, yixiang.cli as cli; "
        "assert cli.main.get_command(click.Context(cli.main), 'serve') is not None; "
        "domains = ('booking', 'vouchers', 'search', 'bot', 'litestar'); "
        "loaded = sorted(m for m in domains if m in sys.modules); "
        "assert cli.main.get_command(click.Context(cli.main), 'search') is not None; "
        "print(','.join(loaded))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_served_app_leaves_unused_libraries_out_and_meilisearch_still_works(tmp_path):
    """The process ``yixiang serve`` runs builds its app without pydantic and httpx's command line
    (yixiang.asgi), then the Meilisearch backend, which needs pydantic, imports it as usual and
    talks to the server."""
    meili = FakeMeilisearch(master_key="test-master-key")
    meili.start()
    probe = (
        "import asyncio, sys; import yixiang.asgi; "
        "print('pydantic' in sys.modules, 'httpx._main' in sys.modules, 'httpx' in sys.modules); "
        "from search.meili import MeiliSearch; "
        f"backend = MeiliSearch({meili.url!r}, 'test-master-key', index='probe'); "
        "asyncio.run(backend.prepare()); "
        "print('pydantic' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIXIANG_")}
    env |= {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_LOG_LEVEL": "WARNING"}
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env
        )
    finally:
        meili.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True", "True"]
