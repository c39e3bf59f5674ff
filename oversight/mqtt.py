"""The MQTT side: the ingest role's subscriber, and the client the simulator and tests publish with.

Sensors publish to ``yixiang/sensors/{sensor_id}/power`` (QoS 1). Each ingest process subscribes
to ``$share/<group>/yixiang/sensors/+/power``: the broker gives each message to one process of the
group, so more processes take more load. Messages are stored in batches (``ingest_batch_size``
or ``ingest_batch_seconds``, whichever comes first), one transaction each.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote, urlsplit

import aiomqtt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oversight.ingest import IngestResult, Message, ingest
from oversight.settings import OversightSettings
from yixiang.settings import Settings

log = logging.getLogger("yixiang.oversight.mqtt")

TOPIC_PREFIX = "yixiang/sensors"
TOPIC_FILTER = f"{TOPIC_PREFIX}/+/power"
RECONNECT_SECONDS = 2.0


def topic_of(sensor_id: str) -> str:
    return f"{TOPIC_PREFIX}/{sensor_id}/power"


def sensor_of_topic(topic: str) -> str | None:
    parts = topic.split("/")
    if len(parts) == 4 and f"{parts[0]}/{parts[1]}" == TOPIC_PREFIX and parts[3] == "power":
        return parts[2]
    return None


def subscription(share_group: str) -> str:
    return f"$share/{share_group}/{TOPIC_FILTER}" if share_group else TOPIC_FILTER


def client_for(
    mqtt_url: str, identifier: str | None = None, *, max_inflight: int | None = None
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
    )


@dataclass
class IngestStats:
    batches: int = 0
    accepted: int = 0
    refused: int = 0


async def run_ingest(
    session_maker: async_sessionmaker[AsyncSession],
    settings: Settings,
    stop: asyncio.Event,
    *,
    subscribed: asyncio.Event | None = None,
    on_batch: Callable[[IngestResult], Awaitable[None] | None] | None = None,
) -> IngestStats:
    """Subscribe and store until ``stop`` is set; reconnect when the broker goes away."""
    section = OversightSettings.of(settings)
    stats = IngestStats()
    while not stop.is_set():
        try:
            async with client_for(section.mqtt_url) as client:
                await client.subscribe(subscription(section.mqtt_share_group), qos=1)
                if subscribed is not None:
                    subscribed.set()
                log.info("sensor ingest subscribed to %s", subscription(section.mqtt_share_group))
                await _consume(client, session_maker, settings, stop, stats, on_batch)
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
) -> None:
    section = OversightSettings.of(settings)
    queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=section.ingest_batch_size * 4)

    async def receive() -> None:
        async for message in client.messages:
            payload = message.payload
            if not isinstance(payload, bytes | bytearray):
                payload = str(payload).encode()
            await queue.put(Message(bytes(payload), sensor_of_topic(message.topic.value) or ""))

    receiver = asyncio.create_task(receive())
    stopping = asyncio.create_task(stop.wait())
    try:
        while True:
            first = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({first, receiver, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if first not in done:
                first.cancel()
                if receiver in done:
                    receiver.result()  # the connection dropped: raise its MqttError
                return
            batch = [first.result()]
            deadline = asyncio.get_running_loop().time() + section.ingest_batch_seconds
            while len(batch) < section.ingest_batch_size:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except TimeoutError:
                    break
            async with session_maker() as session:
                result = await ingest(
                    session,
                    batch,
                    secret_key=settings.secret_key,
                    future_skew=timedelta(seconds=section.future_skew_seconds),
                )
            stats.batches += 1
            stats.accepted += result.accepted
            stats.refused += len(result.refused)
            if on_batch is not None:
                outcome = on_batch(result)
                if outcome is not None:
                    await outcome
    finally:
        receiver.cancel()
        stopping.cancel()


PROBE_SECONDS = 3.0


async def broker_answers(settings: Settings) -> tuple[bool, str]:
    """Whether the sensor broker accepts a connection (``yixiang check``), and what failed if not."""
    url = OversightSettings.of(settings).mqtt_url
    try:
        async with asyncio.timeout(PROBE_SECONDS), client_for(url):
            return True, ""
    except (aiomqtt.MqttError, TimeoutError, OSError) as exc:
        return False, type(exc).__name__
