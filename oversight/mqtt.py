"""The MQTT side: the ingest role's subscriber, and the client the simulator and tests publish with.

Sensors publish to ``yixiang/sensors/{sensor_id}/power`` (QoS 1). Each ingest process subscribes
to ``$share/<group>/yixiang/sensors/+/power``: the broker gives each message to one process of the
group, so more processes take more load. Messages are stored in batches (``ingest_batch_size``
or ``ingest_batch_seconds``, whichever comes first), one transaction each.

A QoS 1 message is acknowledged (PUBACK) only once the batch holding it is committed: a crash or a
database outage in between leaves it unacknowledged in the process's broker session (a fixed
client id, not a clean start), which sends it again when the process reconnects; stored readings
are kept once per sensor and sequence number, so a message stored but not yet acknowledged comes
back as a duplicate and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt import client as mqtt_client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oversight.heartbeat import heartbeat_path
from oversight.ingest import IngestResult, Message, ingest
from oversight.settings import OversightSettings
from oversight.topics import sensor_of_topic, subscription
from yixiang.errors import is_database_unavailable
from yixiang.heartbeat import Heartbeat
from yixiang.settings import Settings

log = logging.getLogger("yixiang.oversight.mqtt")

RECONNECT_SECONDS = 2.0


def client_for(
    mqtt_url: str,
    identifier: str | None = None,
    *,
    max_inflight: int | None = None,
    clean_start: mqtt_client.CleanStartOption = mqtt_client.MQTT_CLEAN_START_FIRST_ONLY,
    properties: Properties | None = None,
) -> aiomqtt.Client:
    parts = urlsplit(mqtt_url)
    tls = parts.scheme == "mqtts"
    return aiomqtt.Client(
        parts.hostname or "127.0.0.1",
        parts.port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=ssl.create_default_context() if tls else None,
        timeout=10,
        max_inflight_messages=max_inflight,
        clean_start=clean_start,
        properties=properties,
    )


def ingest_identifier(section: OversightSettings) -> str:
    return section.mqtt_client_id or f"yixiang-ingest-{socket.gethostname()}"[:64]


def _ingest_client(section: OversightSettings) -> aiomqtt.Client:
    """The ingest role's client: a session that outlives the connection (the broker keeps what
    was not acknowledged and sends it again on reconnect), acknowledged by hand after the commit."""
    connect = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    connect.SessionExpiryInterval = section.mqtt_session_expiry_seconds
    # unacknowledged messages the broker may send ahead: the batch being stored and the next
    connect.ReceiveMaximum = min(65_535, 2 * section.ingest_batch_size)
    client = client_for(section.mqtt_url, ingest_identifier(section), clean_start=False, properties=connect)
    # aiomqtt (2.5) has no manual acknowledgement of its own: paho's, beneath it
    client._client.manual_ack_set(True)
    return client


class StoreUnavailable(Exception):
    """A batch could not be committed (the database refused or went away): nothing of it was
    acknowledged, so the broker sends it again once the ingest role reconnects."""


@dataclass
class IngestStats:
    batches: int = 0
    accepted: int = 0
    refused: int = 0
    unstored: int = 0  # batches the database was not there for (delivered again later)


@dataclass(frozen=True)
class _Delivery:
    message: Message
    mid: int
    qos: int


async def run_ingest(
    session_maker: async_sessionmaker[AsyncSession],
    settings: Settings,
    stop: asyncio.Event,
    *,
    subscribed: asyncio.Event | None = None,
    on_batch: Callable[[IngestResult], Awaitable[None] | None] | None = None,
) -> IngestStats:
    """Subscribe and store until ``stop`` is set; reconnect when the broker goes away, or when the
    database did (so that the broker delivers again what was not stored)."""
    section = OversightSettings.of(settings)
    stats = IngestStats()
    stale = section.ingest_heartbeat_stale_seconds
    heartbeat = Heartbeat(heartbeat_path(settings), stale_after=stale, every=stale / 6)
    while not stop.is_set():
        heartbeat.beat()  # waiting out an outage is alive
        try:
            async with _ingest_client(section) as client:
                await client.subscribe(subscription(section.mqtt_share_group), qos=1)
                if subscribed is not None:
                    subscribed.set()
                log.info("sensor ingest subscribed to %s", subscription(section.mqtt_share_group))
                await _consume(client, session_maker, settings, stop, stats, on_batch, heartbeat)
        except StoreUnavailable as exc:
            stats.unstored += 1
            log.warning(
                "sensor readings not stored, database unavailable (%s); reconnecting in %.0f s",
                type(exc.__cause__).__name__,
                RECONNECT_SECONDS,
            )
        except aiomqtt.MqttError as exc:
            if stop.is_set():
                break
            log.warning("sensor broker unreachable (%s); retrying in %.0f s", exc, RECONNECT_SECONDS)
        try:
            await asyncio.wait_for(stop.wait(), RECONNECT_SECONDS)
        except TimeoutError:
            pass
    return stats


async def _consume(
    client: aiomqtt.Client,
    session_maker: async_sessionmaker[AsyncSession],
    settings: Settings,
    stop: asyncio.Event,
    stats: IngestStats,
    on_batch: Callable[[IngestResult], Awaitable[None] | None] | None,
    heartbeat: Heartbeat,
) -> None:
    """Store batches until ``stop``; then leave the share group and store what had come."""
    section = OversightSettings.of(settings)
    queue: asyncio.Queue[_Delivery] = asyncio.Queue(maxsize=section.ingest_batch_size * 4)

    async def receive() -> None:
        async for message in client.messages:
            payload = message.payload
            if not isinstance(payload, bytes | bytearray):
                payload = str(payload).encode()
            topic_sensor = sensor_of_topic(message.topic.value) or ""
            await queue.put(_Delivery(Message(bytes(payload), topic_sensor), message.mid, message.qos))

    async def store(batch: list[_Delivery], before: asyncio.Task[None] | None) -> None:
        try:
            async with session_maker() as session:
                result = await ingest(
                    session,
                    [d.message for d in batch],
                    secret_key=settings.secret_key,
                    future_skew=timedelta(seconds=section.future_skew_seconds),
                    kept_months=section.readings_kept_months,
                )
        except Exception as exc:
            if is_database_unavailable(exc):
                raise StoreUnavailable() from exc
            raise
        if before is not None:
            await before  # its messages came first: acknowledged first
        for delivery in batch:  # committed: now the broker may forget them (in the order received)
            client._client.ack(delivery.mid, delivery.qos)
        stats.batches += 1
        stats.accepted += result.accepted
        stats.refused += len(result.refused)
        if on_batch is not None:
            outcome = on_batch(result)
            if outcome is not None:
                await outcome

    async def gather(batch: list[_Delivery]) -> list[_Delivery]:
        """Fill the batch: the messages already queued at once, then wait for more (until the
        deadline) only while the queue is empty — not a task and a timer for every message."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + section.ingest_batch_seconds
        while len(batch) < section.ingest_batch_size:
            try:
                batch.append(queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    storing: asyncio.Task[None] | None = None

    async def start_storing(batch: list[_Delivery]) -> None:
        """Store the batch while the next one is gathered and begun: a batch's statements and
        commit wait on the database, and batches waiting their turn made the latency. At most two
        at once; racing batches are ordered by the rows they lock, as two processes' are."""
        nonlocal storing
        before, storing = storing, asyncio.create_task(store(batch, storing))
        if before is not None:
            await before

    async def stored() -> None:
        nonlocal storing
        if storing is not None:
            before, storing = storing, None
            await before

    receiver = asyncio.create_task(receive())
    stopping = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            if queue.empty():
                await stored()  # nothing to overlap it with
            heartbeat.beat()
            first = asyncio.create_task(queue.get())
            done: set[asyncio.Task[Any]] = set()
            while not done:  # beating while idle
                done, _ = await asyncio.wait(
                    {first, receiver, stopping}, timeout=heartbeat.every, return_when=asyncio.FIRST_COMPLETED
                )
                heartbeat.beat()
            if first not in done:
                first.cancel()
                if receiver in done:
                    receiver.result()  # the connection dropped: raise its MqttError
                break
            await start_storing(await gather([first.result()]))
        await stored()
        # Stopping: no new messages once the broker confirms, then store (and so acknowledge)
        # those already sent, rather than leave them waiting in the session for a restart.
        await client.unsubscribe(subscription(section.mqtt_share_group))
        while batch := await gather([]):
            await start_storing(batch)
        await stored()
    finally:
        receiver.cancel()
        stopping.cancel()
        if storing is not None:  # failed on the way: what was not committed comes again
            storing.cancel()
            storing.add_done_callback(lambda task: task.cancelled() or task.exception())  # seen here


PROBE_SECONDS = 3.0


async def broker_answers(settings: Settings) -> tuple[bool, str]:
    """Whether the sensor broker accepts a connection (``yixiang check``), and what failed if not."""
    url = OversightSettings.of(settings).mqtt_url
    try:
        async with asyncio.timeout(PROBE_SECONDS), client_for(url):
            return True, ""
    except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
        return False, type(exc).__name__
