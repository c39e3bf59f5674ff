"""Sensor readings per second through MQTT (Mosquitto) into PostgreSQL, and over HTTP.

    uv run python bench/sensor_ingest_bench.py                         # 2,000 sensors, 3,000/s, 20 s
    uv run python bench/sensor_ingest_bench.py --rate 1000 --seconds 20
    uv run python bench/sensor_ingest_bench.py --http-only
    uv run python bench/sensor_ingest_bench.py --rate 1000 --seconds 10 --profile  # its top functions

A scratch database ``yixiang_bench_<random>`` is created on the server, migrated, given the demo
accounts, ``--sensors`` instruments each with a registered sensor, and dropped at the end.

MQTT: one ingest process (``oversight.mqtt.run_ingest``, the role ``yixiang oversight ingest``
runs, in a process of its own) subscribes through the broker; this process publishes signed
readings (QoS 1) at ``--rate`` per second, open loop, round robin over the sensors, each timed
now. Latency = the moment the batch holding the reading committed (its sessions updated) − the
reading's time. Throughput = readings stored / (last commit − first publish).

HTTP: batches of 500 signed messages POSTed to ``/api/v1/oversight/readings`` through the app
in-process (httpx's ASGI transport), one after another.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import pstats
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import msgspec
from sqlalchemy import insert

try:
    from uvloop import run as run_loop
except ImportError:  # pragma: no cover
    from asyncio import run as run_loop

from accounts.demo import demo_id, load_accounts_demo
from accounts.regions import load_regions
from catalogue.categories import load_categories
from catalogue.models import Instrument, PublicationStatus
from oversight.models import InstrumentMonitor, PowerState, Sensor
from oversight.mqtt import client_for, run_ingest
from oversight.protocol import ReadingBody, sign_reading
from oversight.secrets import new_sensor_secret, seal
from oversight.topics import topic_of
from yixiang.db import create_engine, create_session_maker
from yixiang.migrate import upgrade
from yixiang.settings import build_settings

LOOP = "n = 0\nfor i in range({count}):\n    n += i"


def python_loop_seconds(tenth: bool = False) -> float:
    """CPU seconds of a Python loop of 10⁷ additions; ``tenth``: of 10⁶, times ten (a probe
    cheap enough to take every few seconds during a run)."""
    started = time.process_time()
    exec(LOOP.format(count=1_000_000 if tenth else 10_000_000), {})
    return (time.process_time() - started) * (10 if tenth else 1)


async def make_world(url: str, count: int, secret_key: str) -> list[tuple[str, str]]:
    """``count`` instruments of 之江理工, each with a sensor; (sensor id, secret) each."""
    engine = create_engine(url)
    await upgrade(engine)
    session_maker = create_session_maker(engine)
    async with session_maker() as session, session.begin():
        await load_regions(session)
        await load_categories(session)
    async with session_maker() as session, session.begin():
        await load_accounts_demo(session)
    sensors = []
    async with session_maker() as session, session.begin():
        instruments, rows, monitors = [], [], []
        for n in range(count):
            instrument_id, sensor_id, secret = uuid.uuid4(), f"S-BENCH-{n:06d}", new_sensor_secret()
            instruments.append(
                {
                    "id": instrument_id,
                    "name": f"压测仪器 {n}",
                    "category_code": "0101",
                    "original_value_fen": 100_000_000,
                    "unit_id": demo_id("unit-zjlg"),
                    "region_code": "330100",
                    "publication": PublicationStatus.published,
                }
            )
            rows.append(
                {
                    "id": sensor_id,
                    "instrument_id": instrument_id,
                    "unit_id": demo_id("unit-zjlg"),
                    "secret_sealed": seal(secret, secret_key, sensor_id),
                }
            )
            monitors.append({"instrument_id": instrument_id, "running_watts": 100})
            sensors.append((sensor_id, secret))
        await session.execute(insert(Instrument), instruments)
        await session.execute(insert(Sensor), rows)
        await session.execute(insert(InstrumentMonitor), monitors)
    await engine.dispose()
    return sensors


def ingest_process(
    url: str, group: str, expected: int, wait: float, queue: Any, profile: bool = False
) -> None:
    """The ingest role in a process of its own; reports (latencies, stored, refused, last commit, CPU),
    and prints cProfile's top functions when asked (``--profile``: the CPU figure then includes it)."""
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    outcome = run_loop(_ingest(url, group, expected, wait))
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    queue.put(outcome)


async def _ingest(
    url: str, group: str, expected: int, wait: float
) -> tuple[list[float], int, int, float, float]:
    settings = build_settings(
        {
            "database_url": url,
            "oversight_mqtt_share_group": group,
            "oversight_mqtt_client_id": f"{group}-ingest",
            "oversight_mqtt_session_expiry_seconds": 60,
        }
    )
    engine = create_engine(url, pool_size=4)
    stop = asyncio.Event()
    latencies: list[float] = []
    totals = {"stored": 0, "refused": 0, "last": 0.0}

    def on_batch(result: Any) -> None:
        now = time.time()
        latencies.extend(now - t.timestamp() for t in result.stored_read_at)
        totals["stored"] += result.accepted
        totals["refused"] += len(result.refused)
        totals["last"] = now
        if totals["stored"] + totals["refused"] >= expected:
            stop.set()

    cpu = time.process_time()
    task = asyncio.create_task(run_ingest(create_session_maker(engine), settings, stop, on_batch=on_batch))
    try:
        await asyncio.wait_for(stop.wait(), wait)
    except TimeoutError:
        stop.set()
    await task
    await engine.dispose()
    return latencies, totals["stored"], totals["refused"], totals["last"], time.process_time() - cpu


async def publish(
    sensors: list[tuple[str, str]], rate: float, seconds: float, qos: int
) -> tuple[int, float, float]:
    """Open loop at ``rate``/s; (messages, first publish time, lag behind the schedule at the end)."""
    total = int(rate * seconds)
    seq = dict.fromkeys((s for s, _ in sensors), 0)
    async with client_for(
        "mqtt://127.0.0.1:1883", identifier=f"bench-{uuid.uuid4().hex[:8]}", max_inflight=1000
    ) as client:
        started = time.time()
        pending: set[asyncio.Task[None]] = set()
        for n in range(total):
            planned = started + n / rate
            delay = planned - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sensor_id, secret = sensors[n % len(sensors)]
            seq[sensor_id] += 1
            on = (n // len(sensors)) % 6 != 5  # running five readings in six
            body = ReadingBody(
                sensor_id=sensor_id,
                seq=seq[sensor_id],
                ts=datetime.now(UTC),
                state=PowerState.on if on else PowerState.off,
                watts=900 if on else 0,
            )
            if len(pending) >= 5000:  # the broker takes 20 unacknowledged messages at a time
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            payload = sign_reading(body, secret)
            task = asyncio.create_task(client.publish(topic_of(sensor_id), payload, qos=qos, timeout=300))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        lag = time.time() - (started + (total - 1) / rate)
    return total, started, lag


async def http_path(url: str, sensors: list[tuple[str, str]], batches: int) -> tuple[int, float]:
    from yixiang.app import create_app

    settings = build_settings(
        {
            "database_url": url,
            "worker_in_process": False,
            "demo_data": False,
            "auto_migrate": False,
            "log_level": "WARNING",
        }
    )
    app = create_app(settings)
    stored = 0
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):
        started = time.perf_counter()
        for b in range(batches):
            messages = []
            for i in range(500):
                sensor_id, secret = sensors[(b * 500 + i) % len(sensors)]
                body = ReadingBody(
                    sensor_id=sensor_id,
                    seq=10**9 + b * 500 + i,
                    ts=datetime.now(UTC),  # in order, after what the MQTT run stored
                    state=PowerState.on,
                    watts=900,
                )
                messages.append(msgspec.json.decode(sign_reading(body, secret)))
            r = await client.post("/api/v1/oversight/readings", json={"messages": messages})
            assert r.status_code == 200, r.text
            stored += r.json()["accepted"]
        elapsed = time.perf_counter() - started
    return stored, elapsed


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p * len(values)))]


async def main(args: argparse.Namespace) -> None:
    server = args.server.rstrip("/")
    name = f"yixiang_bench_{uuid.uuid4().hex[:8]}"
    url = f"{server}/{name}"
    admin = await asyncpg.connect(server.replace("postgresql+asyncpg://", "postgresql://") + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    secret_key = build_settings({}).secret_key
    try:
        sensors = await make_world(url, args.sensors, secret_key)
        print(f"python loop of 10^7 additions: {python_loop_seconds():.2f} s")
        if not args.http_only:
            total = int(args.rate * args.seconds)
            group = f"bench-{uuid.uuid4().hex[:8]}"
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            ingest = ctx.Process(
                target=ingest_process, args=(url, group, total, args.seconds + 60, queue, args.profile)
            )
            ingest.start()
            await asyncio.sleep(8)  # the ingest process imports, connects and subscribes
            sent, first, lag = await publish(sensors, args.rate, args.seconds, args.qos)
            latencies, stored, refused, last, cpu = queue.get()
            ingest.join()
            latencies.sort()
            print(f"mqtt: sensors={args.sensors} rate={args.rate}/s seconds={args.seconds} qos={args.qos}")
            print(f"mqtt: published={sent}")
            print(f"mqtt: stored={stored} refused={refused} publisher lag at end={lag:.2f} s")
            per_reading = cpu * 1e6 / max(stored, 1)
            rate = stored / (last - first)
            print(f"mqtt: readings/s stored={rate:.0f} ingest CPU per reading={per_reading:.0f} µs")
            if latencies:
                print(
                    f"mqtt: publish→stored p50={statistics.median(latencies) * 1000:.0f} ms "
                    f"p99={percentile(latencies, 0.99) * 1000:.0f} ms max={latencies[-1] * 1000:.0f} ms"
                )
        stored_http, elapsed = await http_path(url, sensors, args.http_batches)
        print(f"http: batches of 500, readings={stored_http} readings/s={stored_http / elapsed:.0f}")
        print(f"python loop of 10^7 additions: {python_loop_seconds():.2f} s")
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", default="postgresql+asyncpg://postgres@127.0.0.1:5432")
    parser.add_argument("--sensors", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=3000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--http-batches", type=int, default=20)
    parser.add_argument("--http-only", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the ingest process")
    parser.add_argument("--qos", type=int, default=1, choices=[0, 1], help="the publisher's QoS (sensors: 1)")
    run_loop(main(parser.parse_args()))
