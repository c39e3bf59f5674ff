"""A real ``yixiang serve`` process on loopback, for tests that need a server like production's:
the API fuzzing and the fault tests. On PostgreSQL + Redis when the test URLs are set."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from tests.support import PG_URL, REDIS_URL, plain_dsn, with_database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]
    log_path: Path

    def token(self, username: str) -> str:
        response = httpx.post(
            f"{self.base_url}/api/v1/auth/dev-login", json={"username": username}, timeout=30
        )
        response.raise_for_status()
        return str(response.json()["token"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


@contextmanager
def live_server(tmp_path: Path, backend: str, **extra_env: str) -> Iterator[LiveServer]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIXIANG_")}
    env.update(
        {
            "YIXIANG_DATA_DIR": str(tmp_path / "data"),
            "YIXIANG_LOG_LEVEL": "WARNING",
            "YIXIANG_RATE_LIMIT_SIGN_IN_PER_MINUTE": "100000",
            "YIXIANG_RATE_LIMIT_SEARCH_PER_MINUTE": "100000",
            "YIXIANG_RATE_LIMIT_BOOKING_PER_MINUTE": "100000",
        }
    )
    database = None
    if backend == "postgres":
        database = f"yixiang_live_{uuid.uuid4().hex[:10]}"
        env["YIXIANG_DATABASE_URL"] = with_database(PG_URL, database)
        env["YIXIANG_REDIS_URL"] = REDIS_URL
        env["YIXIANG_REDIS_PREFIX"] = f"yixiang-live-{uuid.uuid4().hex[:8]}:"

        async def create() -> None:
            conn = await asyncpg.connect(plain_dsn(PG_URL))
            await conn.execute(f'CREATE DATABASE "{database}"')
            await conn.close()

        _run(create())
    env.update(extra_env)
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "yixiang.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, env, log_path)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited:\n{server.log()}")
            try:
                if httpx.get(f"{server.base_url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready:\n{server.log()}")
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        if database:

            async def drop() -> None:
                conn = await asyncpg.connect(plain_dsn(PG_URL))
                await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                await conn.close()

            _run(drop())
