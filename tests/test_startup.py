"""Several server processes starting together (``serve --workers 2``, replicas) migrate and load
the demo data once between them, without tripping over each other."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from tests.conftest import create_database, drop_database, make_settings
from yixiang.identity import User
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
        assert users == 8
    finally:
        await first.stop()
        await second.stop()
        await drop_database(settings)
