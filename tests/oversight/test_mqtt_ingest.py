"""The ingest role against the real Mosquitto broker on 127.0.0.1:1883: signed readings published
per sensor topic become sessions; the same readings shuffled, repeated and delayed give the same
sessions; bad messages are refused and counted; a reading is acknowledged only once stored, so a
batch the database was not there for comes again from the broker and is stored once."""

from __future__ import annotations

import asyncio
import logging
import random
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oversight.heartbeat import heartbeat_path
from oversight.ingest import IngestResult
from oversight.models import SensorReading
from oversight.mqtt import client_for, run_ingest
from oversight.topics import topic_of
from tests.live_server import free_port
from tests.oversight.world import P, at, monitored_instrument, sessions_of, workday
from yixiang.db import create_engine, create_session_maker
from yixiang.heartbeat import heartbeat_problem
from yixiang.settings import build_settings

BROKER = "mqtt://127.0.0.1:1883"


class Ingesting:
    """The ingest role running in the test's loop, on the backend's database, in its own share
    group and broker session (so parallel runs do not take each other's messages)."""

    def __init__(
        self, backend, session_maker: async_sessionmaker[AsyncSession] | None = None, **settings: object
    ) -> None:
        # run_ingest reads only these and the secret key (the same default as the backend's)
        self.settings = build_settings(
            {
                "oversight_mqtt_url": BROKER,
                "oversight_mqtt_share_group": f"test-{uuid.uuid4().hex[:8]}",
                "oversight_mqtt_client_id": f"test-ingest-{uuid.uuid4().hex[:8]}",
                "oversight_mqtt_session_expiry_seconds": 60,
                "oversight_ingest_batch_seconds": 0.05,
                "secret_key": backend.settings.secret_key,
                "data_dir": backend.settings.data_dir,  # the heartbeat's file
                **settings,
            }
        )
        self.session_maker = session_maker or backend.runtime.session_maker
        self.stop = asyncio.Event()
        self.results: list[IngestResult] = []
        self.seen = 0
        self.arrived = asyncio.Condition()

    async def __aenter__(self) -> Ingesting:
        subscribed = asyncio.Event()
        self.task = asyncio.create_task(
            run_ingest(
                self.session_maker, self.settings, self.stop, subscribed=subscribed, on_batch=self._batch
            )
        )
        await asyncio.wait_for(subscribed.wait(), 10)
        return self

    async def _batch(self, result: IngestResult) -> None:
        async with self.arrived:
            self.results.append(result)
            self.seen += result.accepted + len(result.refused)
            self.arrived.notify_all()

    async def until(self, count: int) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: self.seen >= count), 30)

    def refused(self) -> list[str]:
        return sorted(r.value for result in self.results for _, r in result.refused)

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)


async def publish(messages: list[tuple[str, bytes]]) -> None:
    async with client_for(BROKER) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


async def test_readings_published_through_the_broker_become_sessions_however_they_arrive(
    backend, client, login
):
    staff = await login(P)
    in_order = await monitored_instrument(backend, client, staff, running_watts=100)
    jumbled = await monitored_instrument(backend, client, staff, running_watts=100)
    ordered = workday(in_order)
    messages = workday(jumbled)
    rng = random.Random(7)
    shuffled = messages + rng.sample(messages, 40)  # 40 delivered twice
    rng.shuffle(shuffled)
    delayed, first = shuffled[:30], shuffled[30:]
    async with Ingesting(backend) as ingesting:
        await publish([(topic_of(in_order.sensor_id), m) for m in ordered])
        await publish([(topic_of(jumbled.sensor_id), m) for m in first])
        await ingesting.until(len(ordered) + len(first))
        await publish([(topic_of(jumbled.sensor_id), m) for m in delayed])
        await ingesting.until(len(ordered) + len(shuffled))
    expected = await sessions_of(client, staff, in_order, "2026-11-02", "2026-11-02")
    assert expected == [("2026-11-02T09:10:00+08:00", "2026-11-02T10:40:00+08:00", 1350)]
    assert await sessions_of(client, staff, jumbled, "2026-11-02", "2026-11-02") == expected
    assert ingesting.refused() == ["duplicate"] * 40
    # it went round: a liveness probe finds it alive
    assert heartbeat_problem(heartbeat_path(ingesting.settings)) is None


async def test_bad_messages_through_the_broker_are_refused_and_counted(backend, client, login):
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff)
    other = await monitored_instrument(backend, client, staff)
    moment = at("2026-11-06", "10:00")
    async with Ingesting(backend) as ingesting:
        await publish(
            [
                (topic_of(m.sensor_id), m.message(1, moment)),
                (topic_of(m.sensor_id), m.message(2, moment, secret=other.secret)),  # bad signature
                (topic_of(other.sensor_id), m.message(3, moment)),  # published on another sensor's topic
                (topic_of(m.sensor_id), b"not json"),
                (topic_of(m.sensor_id), m.message(1, moment, watts=5)),  # replay of seq 1
            ]
        )
        await ingesting.until(5)
    assert sum(r.accepted for r in ingesting.results) == 1
    assert ingesting.refused() == ["bad_signature", "malformed", "replayed", "topic_mismatch"]


def refusing_database(backend, tmp_path) -> str:
    """A database URL of the backend's kind that cannot be opened: a port nothing listens on, or
    a directory where SQLite expects its file."""
    if backend.is_postgres:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/absent"
    return f"sqlite+aiosqlite:///{tmp_path}"


async def stored_readings(backend, sensor_id: str) -> int:
    async with backend.runtime.session_maker() as session:
        count = await session.scalar(
            select(func.count()).select_from(SensorReading).where(SensorReading.sensor_id == sensor_id)
        )
    return int(count or 0)


async def test_readings_the_database_was_not_there_for_come_again_from_the_broker_and_are_stored_once(
    backend, client, login, tmp_path, caplog
):
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff, running_watts=100)
    messages = workday(m)
    refusing = create_engine(refusing_database(backend, tmp_path))
    session_maker = create_session_maker(refusing)  # the database is away when the readings come
    try:
        with caplog.at_level(logging.WARNING, logger="yixiang.oversight.mqtt"):
            async with Ingesting(backend, session_maker) as ingesting:
                await publish([(topic_of(m.sensor_id), message) for message in messages])
                for _ in range(200):
                    if "database unavailable" in caplog.text:
                        break
                    await asyncio.sleep(0.05)
                assert "database unavailable" in caplog.text
                assert ingesting.results == [] and await stored_readings(backend, m.sensor_id) == 0
                # it comes back: what the broker was never told had arrived, it sends again
                session_maker.configure(bind=backend.runtime.engine)
                await ingesting.until(len(messages))
    finally:
        await refusing.dispose()
    assert sum(r.accepted for r in ingesting.results) == len(messages)
    assert ingesting.refused() == []  # each once: none had been stored before
    assert await stored_readings(backend, m.sensor_id) == len(messages)
    assert await sessions_of(client, staff, m, "2026-11-02", "2026-11-02") == [
        ("2026-11-02T09:10:00+08:00", "2026-11-02T10:40:00+08:00", 1350)
    ]


class StoppingAfterTheFirstBatch(Ingesting):
    """Told to stop once its first batch is stored and everything is published: the broker has
    routed the rest to it, sent some (up to its receive maximum) and holds the others for it."""

    def __init__(self, backend, **settings: object) -> None:
        super().__init__(backend, **settings)
        self.published = asyncio.Event()

    async def _batch(self, result: IngestResult) -> None:
        await super()._batch(result)
        await self.published.wait()
        self.stop.set()


async def test_a_stopping_ingest_role_stores_what_the_broker_had_already_sent_it(backend, client, login):
    staff = await login(P)
    m = await monitored_instrument(backend, client, staff, running_watts=100)
    messages = workday(m)
    async with StoppingAfterTheFirstBatch(backend, oversight_ingest_batch_size=20) as ingesting:
        await publish([(topic_of(m.sensor_id), message) for message in messages])
        ingesting.published.set()
        await asyncio.wait_for(ingesting.task, 20)
    assert sum(r.accepted for r in ingesting.results) == len(messages)
    assert await stored_readings(backend, m.sensor_id) == len(messages)
