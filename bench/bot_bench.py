"""Webhook latency for text messages, as WeChat posts them (signed, AES-encrypted), p50/p99.

Runs the real app in-process (httpx ASGI transport: no socket, so the numbers are the app's own
time) on the embedded default (SQLite, in-memory store) in a temporary data directory, with the
catalogue port reading real instrument rows (the test port of tests/bot until the search adapter
is plugged in at merge). Each message has a new MsgId, so every request does the full work:
verify, decrypt, parse, de-duplicate, follower lookup, conversation, encrypt.

    uv run python bench/bot_bench.py [--messages 500]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.ports import SERVICE_KEY, Ports
from tests.bot.conftest import _instrument
from tests.bot.ports_impl import DbCatalog, MemoryBookings, MemoryVouchers
from tests.bot.wechat_client import WeChatSender
from tests.conftest import Backend, make_settings
from yixiang.app import create_app


async def main(messages: int) -> None:
    from booking.catalogue.models import ServiceMode

    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings("sqlite", Path(tmp))
        app = create_app(settings)
        async with app.lifespan():
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
            backend = Backend("sqlite", settings, app, client)
            ids = set()
            for n in range(30):
                ids.add(
                    await _instrument(
                        backend,
                        f"核磁共振波谱仪{n:02d}" if n % 3 == 0 else f"扫描电子显微镜{n:02d}",
                        ["NMR", "核磁"] if n % 3 == 0 else ["SEM", "电镜"],
                        [("氢谱", ServiceMode.machine_time, 30_000)],
                    )
                )
            vouchers = MemoryVouchers()
            app.state.services[SERVICE_KEY] = Ports(
                catalog=DbCatalog(app.state.session_maker, ids),
                bookings=MemoryBookings(app.state.session_maker, vouchers),
                vouchers=vouchers,
            )
            sender = WeChatSender(
                client, settings.wechat_token, settings.wechat_aes_key, settings.wechat_app_id, mode="aes"
            )
            for label, text in (("help", "帮助"), ("search", "找核磁")):
                for _ in range(20):  # warm up
                    await sender.text("o-bench-warmup-000000000000", text)
                timings = []
                for i in range(messages):
                    started = time.perf_counter()
                    reply = await sender.text(f"o-bench-{i % 50:04d}-0000000000000000", text)
                    timings.append((time.perf_counter() - started) * 1000)
                    assert reply.status == 200 and reply.content, reply
                timings.sort()
                p50 = statistics.median(timings)
                p99 = timings[int(len(timings) * 0.99) - 1]
                print(f"{label:7s} n={messages} p50={p50:.1f} ms p99={p99:.1f} ms max={timings[-1]:.1f} ms")
            await client.aclose()
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    asyncio.run(main(parser.parse_args().messages))
