"""The load drivers' PostgreSQL CPU counts the bench database's own backends: another database's
work on the same server (a data fill, another bench) is not charged to the requests measured."""

from __future__ import annotations

import asyncpg
import pytest

from bench.load.driver import database_cpu, database_cpu_since
from tests.support import PG_URL, plain_dsn

pytestmark = pytest.mark.skipif(not PG_URL, reason="reads PostgreSQL's backends")

BUSY = "SELECT count(*) FROM generate_series(1, 3000000) AS i WHERE i % 7 = 3"


async def test_only_the_named_databases_backends_count() -> None:
    dsn = plain_dsn(PG_URL)
    here, elsewhere = PG_URL, PG_URL.rpartition("/")[0] + "/yixiang_no_such_bench"
    connection = await asyncpg.connect(dsn)
    try:
        backend = await connection.fetchval("SELECT pg_backend_pid()")
        assert backend in database_cpu(here)
        assert backend not in database_cpu(elsewhere)
        assert backend in database_cpu()  # no database named: every PostgreSQL process

        before_here, before_elsewhere = database_cpu(here), database_cpu(elsewhere)
        await connection.fetchval(BUSY)
        assert database_cpu_since(before_here, here) > 0.1
        assert database_cpu_since(before_elsewhere, elsewhere) < 0.05  # Redis only, idle
    finally:
        await connection.close()
