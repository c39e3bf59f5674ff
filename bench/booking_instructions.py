"""CPU instructions the app spends per booking, counted by callgrind: a figure that does not drift.

    uv run python bench/booking_instructions.py --bookings 100

The VM this project is measured on changes speed by a third from one minute to the next, so
bookings/s and CPU ms per booking (booking_bench.py) compare code only when runs alternate.
Instructions do not drift: run under ``valgrind --tool=callgrind`` with instrumentation off, the
app starts, migrates a scratch PostgreSQL database, loads the demo data and makes 20 bookings;
then instrumentation is switched on for ``--bookings`` sequential bookings (machine time, one hour,
each a distinct free slot, with an ``Idempotency-Key``) through the whole ASGI app in-process —
no HTTP client, no server — and the count is divided by them. Rate limits count in Redis, as in
production. PostgreSQL's own work is not counted (another process).

As demo-researcher (the default), whose firm holds a 50,000 元 grant, every booking holds a voucher
share (a ledger entry each): the path of a firm with vouchers, which booking_bench.py's runs
mostly are not. ``--as demo-researcher-2`` books for a firm without a grant.
Needs valgrind (Debian's package); takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.booking_bench import add_instruments, hour_booking, in_process_settings, plain, slots
from yixiang.app import create_app

WARM_UP = 20


async def asgi_call(
    app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: Any = None
) -> tuple[int, bytes]:
    """One request through the whole ASGI app, in this process: its status and body."""
    data = b"" if body is None else json.dumps(body).encode()
    incoming = [{"type": "http.request", "body": data, "more_body": False}]
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    target, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": target,
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return answer["status"], answer["body"]


async def book_in_process(
    database_url: str, redis_url: str, username: str, bookings: int, wait_for_parent: bool
) -> None:
    settings = in_process_settings(
        database_url,
        data_dir=tempfile.mkdtemp(prefix="yixiang-instructions-"),
        redis_url=redis_url,
        redis_prefix=f"yixiang-instructions-{uuid.uuid4().hex[:8]}:",
    )
    app = create_app(settings)
    async with app.lifespan():
        instruments = await add_instruments(app.state.session_maker, 20)

        async def call(path: str, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
            status, answer = await asgi_call(app, "POST", path, headers, body)
            return {"status": status, "body": answer}

        signed_in = await call("/api/v1/auth/dev-login", {"username": username}, [])
        bearer = f"Bearer {json.loads(signed_in['body'])['token']}".encode()
        work = slots(instruments, WARM_UP + bookings, 1 + int(time.time()) % 200)
        for n, (instrument_id, start) in enumerate(work):
            if n == WARM_UP and wait_for_parent:
                # Counting starts here: the parent switches callgrind's instrumentation on.
                print("READY", flush=True)
                await asyncio.to_thread(sys.stdin.readline)
            answer = await call(
                "/api/v1/bookings",
                hour_booking(instrument_id, start),
                [(b"authorization", bearer), (b"idempotency-key", uuid.uuid4().hex.encode())],
            )
            if answer.get("status") != 201:
                raise SystemExit(f"booking refused: {answer}")


def instructions_counted(command: list[str]) -> tuple[int, str]:
    """Runs ``command`` under callgrind, instrumentation off until it prints READY; counts from
    the line it is then sent until it exits. The count, and what it printed after READY."""
    callgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=/dev/null"]
    with tempfile.TemporaryFile("w+") as log:
        valgrind = subprocess.Popen(
            [*callgrind, *command], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True
        )
        assert valgrind.stdin is not None and valgrind.stdout is not None
        for line in valgrind.stdout:
            if line.strip() == "READY":
                break
        else:
            valgrind.wait()
            log.seek(0)
            raise SystemExit(f"the app stopped before counting:\n{log.read()}")
        subprocess.run(["callgrind_control", "-i", "on", str(valgrind.pid)], check=True, capture_output=True)
        valgrind.stdin.write("go\n")
        valgrind.stdin.flush()
        printed = valgrind.stdout.read()
        valgrind.wait()
        log.seek(0)
        output = log.read()
    if valgrind.returncode != 0:
        raise SystemExit(output)
    return int(re.findall(r"Collected : (\d+)", output)[-1]), printed


def count(args: argparse.Namespace) -> None:
    name = f"yixiang_instructions_{uuid.uuid4().hex[:8]}"
    server = args.database_url.rpartition("/")[0]
    admin = plain(args.database_url)

    async def sql(statement: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(sql(f'CREATE DATABASE "{name}"'))
    command = [sys.executable, __file__, "--child", "--database-url", f"{server}/{name}"]
    command += ["--redis-url", args.redis_url, "--as", args.username, "--bookings", str(args.bookings)]
    try:
        collected, _ = instructions_counted(command)
    finally:
        asyncio.run(sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"{collected // args.bookings:,} instructions per booking ({args.bookings} by {args.username})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--bookings", type=int, default=100)
    parser.add_argument("--as", dest="username", default="demo-researcher")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.child:
        from uvloop import run

        run(
            book_in_process(
                arguments.database_url, arguments.redis_url, arguments.username, arguments.bookings, True
            )
        )
    else:
        count(arguments)
