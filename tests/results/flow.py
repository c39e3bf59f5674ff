"""A booking taken to `completed` through the real API, ready for results."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from tests.booking.world import machine_time, make_instrument, served, set_calendar
from yixiang.db import utcnow


async def completed_booking(
    client: Any,
    login: Any,
    backend: Any,
    researcher: str = "demo-researcher",
    world: Any = None,
    slot: int = 0,
) -> tuple[str, Any]:
    """A completed booking; pass ``world`` (and a different ``slot``) to book the same instrument again."""
    provider = await login("demo-provider")
    if world is None:
        world = await make_instrument(backend)
        await set_calendar(client, provider, world.instrument_id)
    booker = await login(researcher)
    start = (utcnow() + timedelta(days=1, hours=2 * slot)).replace(minute=0, second=0, microsecond=0)
    created = await client.post(
        "/api/v1/bookings", json=machine_time(world, start, start + timedelta(hours=1)), headers=booker
    )
    assert created.status_code == 201, created.text
    booking_id = created.json()["id"]
    done = await served(client, backend, provider, booking_id, minutes=60)
    assert done.status_code == 200, done.text
    return booking_id, world


def multipart(files: list[tuple[str, bytes]], description: str | None = None) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b""
    if description is not None:
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\n{description}\r\n'
        ).encode()
    for name, content in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + content
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


async def upload(
    client: Any, headers: dict[str, str], booking_id: str, files: list[tuple[str, bytes]], **kw: Any
):
    body, ctype = multipart(files, kw.pop("description", None))
    params = kw.pop("params", None)
    return await client.post(
        f"/api/v1/bookings/{booking_id}/results",
        content=body,
        headers=headers | {"Content-Type": ctype},
        params=params,
    )
