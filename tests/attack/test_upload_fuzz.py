"""Random multipart bodies at the result upload, as the booking's provider: random boundaries
(declared and used), part headers (names, filenames, oversized values, stray headers), contents,
truncation and network chunking. Whatever arrives, the answer is a 201 or a 4xx with the error
body, within seconds; the process does not grow with what it is sent; and a refused upload leaves
no file behind (every stored object belongs to a recorded result)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from results.models import ResultFile
from tests.results.flow import completed_booking

pytestmark = pytest.mark.slow

EXAMPLES = 150
BCHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?"


def mostly(usual: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` four times in five: enough well-formed uploads that the parts behind the first
    hostile one are reached too."""
    return st.integers(0, 4).flatmap(lambda n: hostile if n == 4 else usual)


boundaries = mostly(
    st.text(BCHARS, min_size=1, max_size=70),
    st.one_of(
        st.integers(71, 5000).map(lambda n: "B" * n),  # past RFC 2046's 70
        st.just(""),
        st.text(st.characters(min_codepoint=32, max_codepoint=255), min_size=1, max_size=40),
    ),
)
header_text = mostly(
    st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=40),
    st.one_of(
        st.integers(4000, 300_000).map(lambda n: "n" * n),  # oversized header values
        st.sampled_from(['a"b', "a\r\nb", "../../etc/passwd", "x.exe", "\x00", ""]),
        st.text(max_size=40),
    ),
)
contents = mostly(
    st.sampled_from([b"%PDF-1.7\n", b"PK\x03\x04", b"t,signal\n", b""]).flatmap(
        lambda magic: st.binary(max_size=2048).map(lambda rest: magic + rest)
    ),
    st.one_of(
        st.sampled_from([b"MZ\x90\x00", b"<html><script>", b"#!/bin/sh\n"]),
        st.integers(1, 600_000).map(lambda n: b"d" * n),
        st.binary(max_size=2048),
    ),
)


@st.composite
def parts(draw: st.DrawFn) -> bytes:
    name = draw(mostly(st.sampled_from(["file", "file", "description"]), header_text))
    disposition = f'form-data; name="{name}"'
    if name != "description" and draw(st.integers(0, 9)) < 9:
        disposition += f'; filename="{draw(header_text)}"'
    lines = [f"Content-Disposition: {disposition}"] if draw(st.integers(0, 9)) < 9 else []
    for _ in range(draw(mostly(st.integers(0, 1), st.integers(2, 12)))):  # stray headers
        lines.append(f"{draw(st.text(BCHARS, min_size=1, max_size=20))}: {draw(header_text)}")
    head = "\r\n".join(lines).encode("utf-8", "surrogatepass")
    return head + b"\r\n\r\n" + draw(contents)


@st.composite
def uploads(draw: st.DrawFn) -> tuple[str, bytes, int]:
    declared = draw(boundaries)
    used = draw(mostly(st.just(declared), boundaries))
    delimiter = b"--" + used.encode("latin-1", "replace")
    sections = draw(mostly(st.lists(parts(), min_size=1, max_size=4), st.lists(parts(), max_size=8)))
    body = b"".join(delimiter + b"\r\n" + part + b"\r\n" for part in sections)
    if draw(st.integers(0, 9)) < 9:
        body += delimiter + b"--\r\n"
    if draw(st.integers(0, 5)) == 5:
        body = body[: draw(st.integers(0, len(body)))]  # truncated
    if draw(st.integers(0, 7)) == 7:
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.binary(min_size=1, max_size=64)) + body[at:]  # garbage
    media = draw(mostly(st.just("multipart/form-data"), st.sampled_from(["multipart/mixed", "text/plain"])))
    quoted = f'"{declared}"' if draw(mostly(st.just(True), st.just(False))) else declared
    content_type = f"{media}; boundary={quoted}" if declared or draw(st.booleans()) else media
    chunk = draw(st.sampled_from([1, 3, 64, 1000, 8192, 65536]))
    return content_type, body, max(chunk, len(body) // 256)  # a few hundred chunks at most


async def chunked(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def rss_kb() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def test_random_multipart_bodies_never_break_the_upload(backend, caplog):
    client = backend.client
    loop = asyncio.get_running_loop()

    async def login(username: str) -> dict[str, str]:
        response = await client.post("/api/v1/auth/dev-login", json={"username": username})
        return {"Authorization": f"Bearer {response.json()['token']}"}

    booking_id, _ = await completed_booking(client, login, backend)
    provider = await login("demo-provider")
    root = Path(backend.settings.data_dir) / "results"
    before = {p for p in root.rglob("*") if p.is_file()}
    statuses: dict[int, int] = {}
    growth = {"kb": 0}

    async def post(content_type: str, body: bytes, chunk: int) -> Any:
        return await client.post(
            f"/api/v1/bookings/{booking_id}/results",
            content=chunked(body, chunk),
            headers=provider | {"Content-Type": content_type.encode("latin-1", "replace")},
        )

    @given(upload=uploads())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(upload: tuple[str, bytes, int]) -> None:
        content_type, body, chunk = upload
        before = rss_kb()
        future = asyncio.run_coroutine_threadsafe(post(content_type, body, chunk), loop)
        response = future.result(timeout=20)  # no hang
        growth["kb"] = max(growth["kb"], rss_kb() - before)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (content_type[:100], body[:300], response.text[:300])
        if response.status_code >= 400:
            assert response.json()["error"]["code"], response.text[:300]
        else:
            assert response.status_code == 201, response.text[:300]

    with caplog.at_level(logging.WARNING):
        await asyncio.to_thread(run)
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert sum(statuses.values()) >= EXAMPLES, statuses
    assert statuses.get(201, 0) >= 5, statuses  # well-formed uploads among them got through
    assert growth["kb"] < 16 * 1024, f"one request grew the process by {growth['kb'] // 1024} MB"

    # Nothing half-written: every new object on disk is a recorded result of this booking.
    async with backend.runtime.session_maker() as session:
        keys = set(
            (
                await session.scalars(
                    select(ResultFile.storage_key).where(ResultFile.booking_id == uuid.UUID(booking_id))
                )
            ).all()
        )
    new = {p for p in root.rglob("*") if p.is_file()} - before
    assert {str(p.relative_to(root)) for p in new} == keys


async def test_endless_hostile_streams_are_refused_in_bounded_memory(client, login, backend):
    """64 MB aimed at each place a parser might keep what it is given: a part that never ends, a
    header line, a description, a preamble. The process grows by a small fraction of that."""
    booking_id, _ = await completed_booking(client, login, backend)
    provider = await login("demo-provider")
    boundary = "fuzzboundary"
    size, piece = 64 * 1024 * 1024, b"z" * 65536
    part = f"--{boundary}\r\nContent-Disposition: form-data; "
    streams = {
        "endless-file": part + 'name="file"; filename="a.bin"\r\n\r\n',
        "endless-header": part + 'name="file"; filename="',
        "endless-description": part + 'name="description"\r\n\r\n',
        "endless-preamble": "",
    }
    for case, head in streams.items():
        base = peak = rss_kb()

        async def body(head: bytes = head.encode()) -> AsyncIterator[bytes]:
            nonlocal peak
            yield head
            for _ in range(size // len(piece)):
                peak = max(peak, rss_kb())
                yield piece

        response = await asyncio.wait_for(
            client.post(
                f"/api/v1/bookings/{booking_id}/results",
                content=body(),
                headers=provider | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            ),
            timeout=60,
        )
        assert 400 <= response.status_code < 500, (case, response.text[:300])
        assert response.json()["error"]["code"] == "invalid_upload", (case, response.text[:300])
        assert (peak - base) / 1024 < 24, f"{case}: grew by {(peak - base) // 1024} MB"
    root = Path(backend.settings.data_dir) / "results"
    assert not list(root.rglob("*.partial"))
