"""Kill the worker (SIGKILL, no goodbye) while it is sending booking notifications to WeChat, then
start another: no notification is sent twice, and every one but the send in flight at the kill
arrives.

A real ``yixiang worker`` process talks to the local WeChat fake (slowed down so the kill lands
mid-flight). WeChat's message APIs take no idempotency key, so bot/notify.py commits "sending"
before each call: the send in flight at the kill is never repeated. It reached WeChat or not
(killed before the request left): the test allows that one, and only that one, to be missing,
and then it is recorded as "sending" (housekeeping later calls it "uncertain").
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select

from accounts.models import User
from bot.models import SentNotification
from tests.fakes.wechat import FakeWeChat
from tests.support import BACKENDS, PG_URL, REDIS_URL, plain_dsn, with_database
from yixiang.outbox import EventStatus, OutboxEvent, emit
from yixiang.runtime import Runtime
from yixiang.settings import load_settings

pytestmark = pytest.mark.slow

EVENTS = 30
APP_ID, APP_SECRET = "wx-kill-test-app", "kill-test-secret"
TEMPLATE = "/cgi-bin/message/template/send"


class SlowWeChat(FakeWeChat):
    """The fake, taking ``delay`` seconds to answer each message send."""

    delay = 0.15

    def handle(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any]]:
        answer = super().handle(method, path, query, body)
        if path == TEMPLATE:
            time.sleep(self.delay)
        return answer


def worker_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "yixiang.cli", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def cli(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "yixiang.cli", *args], env=env, check=True, capture_output=True)


@pytest.fixture(params=BACKENDS)
def environment(request, tmp_path):
    fake = SlowWeChat(apps={APP_ID: APP_SECRET})
    fake.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIXIANG_")}
    env.update(
        {
            "YIXIANG_DATA_DIR": str(tmp_path / "data"),
            "YIXIANG_LOG_LEVEL": "WARNING",
            "YIXIANG_WORKER_IN_PROCESS": "false",
            "YIXIANG_WORKER_POLL_SECONDS": "0.2",
            "YIXIANG_WORKER_LEASE_SECONDS": "3",  # a dead worker's claims come back after 3 s
            "YIXIANG_WECHAT_APP_ID": APP_ID,
            "YIXIANG_WECHAT_APP_SECRET": APP_SECRET,
            "YIXIANG_WECHAT_API_BASE_URL": fake.url,
            "YIXIANG_WECHAT_TEMPLATE_IDS": json.dumps({"booking.confirmed": "tpl-confirmed"}),
        }
    )
    database = None
    if request.param == "postgres":
        database = f"yixiang_kill_{uuid.uuid4().hex[:10]}"
        env["YIXIANG_DATABASE_URL"] = with_database(PG_URL, database)
        env["YIXIANG_REDIS_URL"] = REDIS_URL
        env["YIXIANG_REDIS_PREFIX"] = f"yixiang-kill-{uuid.uuid4().hex[:8]}:"

        async def create() -> None:
            conn = await asyncpg.connect(plain_dsn(PG_URL))
            await conn.execute(f'CREATE DATABASE "{database}"')
            await conn.close()

        asyncio.run(create())
    try:
        cli(env, "db", "upgrade")
        yield env, fake
    finally:
        fake.stop()
        if database:

            async def drop() -> None:
                conn = await asyncpg.connect(plain_dsn(PG_URL))
                await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                await conn.close()

            asyncio.run(drop())


async def prepare(runtime: Runtime) -> dict[str, int]:
    """One follower per researcher and one confirmation each: openid → event id."""
    from bot.models import Follower

    events = {}
    async with runtime.session_maker() as session, session.begin():
        for n in range(EVENTS):
            user = User(username=f"kill-{uuid.uuid4().hex[:8]}", display_name=f"研究员{n}")
            session.add(user)
            await session.flush()
            openid = "o" + uuid.uuid4().hex[:27]
            session.add(Follower(openid=openid, user_id=user.id))
            await emit(
                session,
                "booking.confirmed",
                {
                    "booking_id": str(uuid.uuid4()),
                    "booking_code": f"YX-KILL-{n:04d}",
                    "user_id": str(user.id),
                    "instrument_name": "核磁共振波谱仪",
                    "item_name": "氢谱 1H",
                    "start": "2026-11-25T14:00:00+08:00",
                    "end": "2026-11-25T16:00:00+08:00",
                    "summary": "预约已确认",
                },
            )
            await session.flush()
            events[openid] = int(
                await session.scalar(select(OutboxEvent.id).order_by(OutboxEvent.id.desc()).limit(1)) or 0
            )
    return events


async def statuses(runtime: Runtime, ids: list[int]) -> dict[int, EventStatus]:
    async with runtime.session_maker() as session:
        rows = await session.execute(
            select(OutboxEvent.id, OutboxEvent.status).where(OutboxEvent.id.in_(ids))
        )
        return {i: s for i, s in rows.all()}


async def test_a_killed_worker_loses_nothing_and_resends_nothing_it_finished(environment, tmp_path):
    env, fake = environment
    runtime = Runtime.build(load_settings(env))
    try:
        events = await prepare(runtime)
        ids = list(events.values())
        log = tmp_path / "worker.log"
        first = worker_process(env, log)
        try:
            deadline = time.monotonic() + 60
            while len(fake.calls_to(TEMPLATE)) < EVENTS // 3:
                assert first.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the first worker sent nothing:\n" + log.read_text()
                await asyncio.sleep(0.05)
            first.send_signal(signal.SIGKILL)  # mid-flight: the fake is still answering a send
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
        at_kill = await statuses(runtime, ids)
        finished_by_first = {i for i, s in at_kill.items() if s == EventStatus.done}
        sent_before = Counter(c.body["touser"] for c in fake.calls_to(TEMPLATE) if c.body)
        assert 0 < len(finished_by_first) < EVENTS, "the kill must land with work done and work left"

        second = worker_process(env, log)
        try:
            deadline = time.monotonic() + 90
            while True:
                now = await statuses(runtime, ids)
                if all(s == EventStatus.done for s in now.values()):
                    break
                assert second.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"events left: {Counter(now.values())}\n{log.read_text()}"
                await asyncio.sleep(0.2)
        finally:
            second.terminate()
            second.wait(timeout=15)

        sent = Counter(c.body["touser"] for c in fake.calls_to(TEMPLATE) if c.body)
        repeated = {openid for openid, count in sent.items() if count > 1}
        assert not repeated, f"sent twice: {repeated}"
        assert sent_before == {openid: n for openid, n in sent.items() if openid in sent_before}
        # The worker claims a batch but sends one message at a time: at most one send was in flight.
        missing = set(events) - set(sent)
        assert len(missing) <= 1, missing
        async with runtime.session_maker() as session:
            in_flight = set(
                (
                    await session.scalars(
                        select(SentNotification.event_id).where(SentNotification.status == "sending")
                    )
                ).all()
            )
        assert {events[openid] for openid in missing} <= in_flight and len(in_flight) <= 1, in_flight
    finally:
        await runtime.stop()
