"""CPU per reading of the HTTP ingest path, in one process, with a profile on request.

    uv run python bench/sensor_http_cpu.py                # 16 batches of 500 after 2 to warm up
    uv run python bench/sensor_http_cpu.py 8 --profile    # and cProfile's top functions

A scratch database ``yixiang_cpu_<random>`` is created, given ``sensor_ingest_bench``'s world
(2,000 instruments with sensors) and dropped at the end. The readings are signed beforehand; the
batches are POSTed to ``/api/v1/oversight/readings`` through the app in-process (httpx's ASGI
transport) without the in-process worker, so the CPU measured is the request's (the client's
share of it included). Compare two versions of the code by running this in each, alternately.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import msgspec

from bench.sensor_ingest_bench import make_world, python_loop_seconds
from oversight.models import PowerState
from oversight.protocol import ReadingBody, sign_reading
from yixiang.app import create_app
from yixiang.settings import build_settings

SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
BATCH = 500
JSON = {"content-type": "application/json"}


def signed_batches(sensors: list[tuple[str, str]], count: int) -> list[bytes]:
    """Readings every 10 s per sensor, in order, running mostly (standby every seventh round)."""
    start = datetime.now(UTC) - timedelta(hours=2)
    batches = []
    for b in range(count):
        messages = []
        for i in range(BATCH):
            n = b * BATCH + i
            sensor_id, secret = sensors[n % len(sensors)]
            round_ = n // len(sensors)
            body = ReadingBody(
                sensor_id=sensor_id,
                seq=n,
                ts=start + timedelta(seconds=10 * round_),
                state=PowerState.on if round_ % 7 else PowerState.standby,
                watts=900,
            )
            messages.append(msgspec.json.decode(sign_reading(body, secret)))
        batches.append(msgspec.json.encode({"messages": messages}))
    return batches


async def main(batches: int, profile: bool) -> None:
    name = f"yixiang_cpu_{uuid.uuid4().hex[:8]}"
    url = f"{SERVER}/{name}"
    admin = await asyncpg.connect(SERVER.replace("postgresql+asyncpg://", "postgresql://") + "/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        settings = build_settings({"database_url": url, "worker_in_process": False})
        bodies = signed_batches(await make_world(url, 2000, settings.secret_key), batches + 2)
        app = create_app(settings)
        async with (
            app.lifespan(),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
        ):
            profiler = cProfile.Profile() if profile else None
            cpu = wall = 0.0
            for n, body in enumerate(bodies):
                measured = n >= 2  # the first two warm the caches (statements, sensors)
                if measured and profiler is not None:
                    profiler.enable()
                cpu_at, wall_at = time.process_time(), time.perf_counter()
                r = await client.post("/api/v1/oversight/readings", content=body, headers=JSON)
                if measured:
                    cpu += time.process_time() - cpu_at
                    wall += time.perf_counter() - wall_at
                if profiler is not None:
                    profiler.disable()
                assert r.status_code == 200 and r.json()["accepted"] == BATCH, r.text
        readings = batches * BATCH
        print(
            f"readings={readings} cpu/reading={cpu * 1e6 / readings:.0f} µs "
            f"wall/reading={wall * 1e6 / readings:.0f} µs python loop={python_loop_seconds():.2f} s"
        )
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 16, "--profile" in sys.argv))
