"""The load bench's wrk script (bench/load/mix.lua) against a small HTTP server on loopback: it
keeps the planned rate, counts latency from the planned arrival (not from when a busy connection
got round to sending), matches each answer to its request, and follows bookings up as a day does
(confirmed → cancelled by its researcher; waiting → approved by the provider, then cancelled)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.load.wrk_mix import SCRIPT, outcome_of

pytestmark = pytest.mark.slow

RESEARCHER, PROVIDER = "Bearer researcher-token", "Bearer provider-token"


@dataclass
class Received:
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, authorization


def answer(method: str, path: str, body: bytes) -> tuple[int, bytes, float]:
    """(status, body, seconds to wait before answering)."""
    if path == "/slow":
        return 200, b"{}", 0.3
    if method == "POST" and path == "/api/v1/bookings":
        status = "requested" if b"approval" in body else "confirmed"
        return 201, json.dumps({"id": str(uuid.uuid4()), "number": "Y1", "status": status}).encode(), 0.0
    return 200, b"{}", 0.0


async def serve(received: Received, ready: threading.Event, port: list[int], stop: asyncio.Event) -> None:
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, path, _ = lines[0].split(" ")
                headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                received.requests.append((method, path, headers.get("authorization", "")))
                status, payload, wait = answer(method, path, body)
                await asyncio.sleep(wait)
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-length: {len(payload)}\r\n"
                    f"x-request-id: {headers.get('x-request-id', '')}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port.append(server.sockets[0].getsockname()[1])
    ready.set()
    async with server:
        await stop.wait()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


@pytest.fixture
def server() -> Iterator[tuple[str, Received]]:
    received, ready = Received(), threading.Event()
    port: list[int] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(received, ready, port, stop),))
    thread.start()
    ready.wait(10)
    yield f"http://127.0.0.1:{port[0]}", received
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def line(kind: str, route: str, method: str, path: str, body: str = "", provider: str = "") -> str:
    headers = f"Authorization: {RESEARCHER}\x1fContent-Type: application/json"
    return "\t".join([kind, route, method, path, headers, body, provider])


def run_wrk(url: str, plan: list[str], phases: str, connections: int, seconds: int, tmp: Path) -> str:
    assert shutil.which("wrk"), "wrk is missing (apt-get install -y wrk; .ci/run installs it)"
    (tmp / "plan.tsv").write_text("\n".join(plan) + "\n")
    out = tmp / "outcomes.tsv"
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(SCRIPT), url, "--"]
    command += [str(tmp / "plan.tsv"), phases, "1", "2"]
    done = subprocess.run(
        command, capture_output=True, text=True, env=os.environ | {"YIXIANG_WRK_OUT": str(out)}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out.read_text()


def test_bookings_are_followed_up_and_every_answer_is_matched(
    server: tuple[str, Received], tmp_path: Path
) -> None:
    url, received = server
    plan = [
        line("booking", "booking.create", "POST", "/api/v1/bookings", '{"kind":"instant"}'),
        line("approval", "booking.create", "POST", "/api/v1/bookings", '{"kind":"approval"}', PROVIDER),
        line("detail", "detail", "GET", "/fast"),
        line("detail", "detail", "GET", "/fast"),
    ]
    text = run_wrk(url, plan, "60:3", 8, 3, tmp_path)
    result = outcome_of(text, [(60, 3)], 3, 180)

    creates = [r for r in received.requests if r[1] == "/api/v1/bookings"]
    approves = [r for r in received.requests if r[1].endswith("/approve")]
    cancels = [r for r in received.requests if r[1].endswith("/cancel")]
    assert creates and approves and cancels
    assert all(auth == PROVIDER for _, _, auth in approves)
    assert all(auth == RESEARCHER for _, _, auth in cancels)
    # each cancel follows a create or an approval (the last few may be cut off by the end)
    assert len(creates) - 4 <= len(cancels) <= len(creates)
    # every answer reached its request's route, none was lost or counted twice
    answered = sum(st.count for st in result.stats.values())
    assert abs(answered - len(received.requests)) <= 8  # in flight when wrk stopped
    assert result.stats["booking.approve"].count >= 1 and result.stats["booking.cancel"].count >= 1
    assert result.stats["detail"].ok >= 1 and result.total_errors == 0


def test_the_planned_rate_is_kept_and_latency_counts_from_the_planned_arrival(
    server: tuple[str, Received], tmp_path: Path
) -> None:
    url, received = server
    text = run_wrk(url, [line("detail", "detail", "GET", "/fast")] * 2, "100:3", 16, 3, tmp_path)
    sent = len(received.requests)
    assert 200 <= sent <= 400, sent  # Poisson arrivals at 100/s for 3 s

    received.requests.clear()
    # Two connections, answers after 0.3 s: the server manages ~7/s of the 20/s planned. A driver
    # that timed from the send would see 0.3 s; counted from the planned arrival, the backlog shows.
    text = run_wrk(url, [line("slow", "detail", "GET", "/slow")] * 2, "20:4", 2, 4, tmp_path)
    latencies = outcome_of(text, [(20, 4)], 4, 80).stats["detail"].latencies
    assert latencies and min(latencies) >= 0.29
    assert max(latencies) > 1.5, max(latencies)
