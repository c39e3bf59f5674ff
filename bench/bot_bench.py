"""Webhook latency for text messages, as WeChat posts them (signed, AES-encrypted), p50/p99.

Runs the real app in-process (httpx ASGI transport: no socket, so the numbers are the app's own
time) on the embedded default (SQLite, in-memory store) in a temporary data directory, on the
demo data (364 instruments) with the real search behind the bot. Each message has a new MsgId,
so every request does the full work:
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

from bot.settings import WeChatSettings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.bot.wechat_client import WeChatSender
from tests.conftest import make_settings
from yixiang.app import create_app


async def main(messages: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings("sqlite", Path(tmp))
        app = create_app(settings)
        async with app.lifespan():
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
            await app.state.runtime.worker().drain()  # index the demo catalogue for search
            sender = WeChatSender(
                client,
                WeChatSettings.of(settings).token,
                WeChatSettings.of(settings).aes_key,
                WeChatSettings.of(settings).app_id,
                mode="aes",
            )
            texts = (
                ("help", "帮助"),
                ("search", "找核磁"),
                ("sentence", "明天下午三点到五点的核磁"),
                ("english", "SEM tomorrow afternoon"),
            )
            for label, text in texts:
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
                print(f"{label:8s} n={messages} p50={p50:.1f} ms p99={p99:.1f} ms max={timings[-1]:.1f} ms")
            await client.aclose()
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=500)
    asyncio.run(main(parser.parse_args().messages))
