"""Bodies built to break the parsers: JSON nested past the decoder's recursion limit, invalid UTF-8,
multipart with monstrous part headers or boundaries, uploads that announce more than the limit,
bodies that stall and clients that leave mid-upload. Each is a 4xx with the error body (or, for a
client that is gone, an info line): never a 500, never an "unhandled error" in the log."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from results.models import ResultFile
from results.settings import ResultsSettings
from tests.live_server import live_server
from tests.results.flow import completed_booking
from tests.support import error_code

DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 20_000 + b"1" + b"}" * 20_000
PROVIDER_IMPORT = "/api/v1/provider/instruments/import"


def assert_error_body(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text[:300]
    assert error_code(response) == code, response.text[:300]
    message = response.json()["error"]["message"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in message), message  # said in Chinese
    assert response.headers["x-request-id"]


def no_unhandled_errors(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors


# --- JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
async def test_json_nested_past_the_decoders_limit_is_400(client, login, caplog, body):
    researcher = await login("demo-researcher")
    json_type = {"Content-Type": "application/json"}
    with caplog.at_level(logging.INFO):
        booking = await client.post("/api/v1/bookings", content=body, headers=researcher | json_type)
        sign_in = await client.post("/api/v1/auth/dev-login", content=body, headers=json_type)
    for response in (booking, sign_in):
        assert_error_body(response, 400, "invalid_json")
        assert "嵌套" in response.json()["error"]["message"]
    no_unhandled_errors(caplog)


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe", b"\xed\xa0\x80", b"\xc0\x80", b"abc\x80"],
    ids=["not-utf8", "surrogate", "overlong", "lone-continuation"],
)
async def test_invalid_utf8_inside_a_json_string_is_400(client, login, caplog, raw):
    researcher = await login("demo-researcher")
    json_type = {"Content-Type": "application/json"}
    with caplog.at_level(logging.INFO):
        booking = await client.post(
            "/api/v1/bookings", content=b'{"note": "' + raw + b'"}', headers=researcher | json_type
        )
        sign_in = await client.post(
            "/api/v1/auth/dev-login", content=b'{"username": "' + raw + b'"}', headers=json_type
        )
    for response in (booking, sign_in):
        assert_error_body(response, 400, "invalid_json")
        assert "UTF-8" in response.json()["error"]["message"]
    no_unhandled_errors(caplog)


async def test_a_nul_character_in_a_string_is_400_on_every_database(client, login, caplog):
    """PostgreSQL's text cannot hold U+0000: it is refused, and named, before any query runs."""
    json_type = {"Content-Type": "application/json"}
    with caplog.at_level(logging.INFO):
        sign_in = await client.post(
            "/api/v1/auth/login", content=b'{"username": "a\\u0000b", "password": "x"}', headers=json_type
        )
        escaped = await client.post(  # a backslash followed by "u0000" is ordinary text
            "/api/v1/auth/login", content=b'{"username": "a\\\\u0000b", "password": "x"}', headers=json_type
        )
    assert_error_body(sign_in, 400, "invalid_json")
    assert "\\u0000" in sign_in.json()["error"]["message"]
    assert escaped.status_code == 401
    no_unhandled_errors(caplog)


# --- multipart: part headers and boundaries -------------------------------------------------------


def one_file(boundary: str, filename: str, content: bytes = b"%PDF-1.4 report") -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )


async def stored_results(backend: Any, booking_id: str) -> int:
    async with backend.runtime.session_maker() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(ResultFile)
                .where(ResultFile.booking_id == uuid.UUID(booking_id))
            )
            or 0
        )


def leftover_files(backend: Any) -> list[str]:
    return [str(p) for p in (Path(backend.settings.data_dir) / "results").rglob("*.partial")]


HOSTILE_MULTIPART = {
    # a filename of 256 KiB in one part header
    "long-filename": ("b" * 16, "r" * 256 * 1024 + ".pdf"),
    # RFC 2046 allows at most 70 characters
    "long-boundary": ("B" * 64 * 1024, "report.pdf"),
}


@pytest.mark.parametrize("case", HOSTILE_MULTIPART, ids=list(HOSTILE_MULTIPART))
async def test_results_upload_with_a_monstrous_part_header_or_boundary_is_refused(
    client, login, backend, caplog, case
):
    booking_id, _ = await completed_booking(client, login, backend)
    provider = await login("demo-provider")
    boundary, filename = HOSTILE_MULTIPART[case]
    with caplog.at_level(logging.INFO):
        response = await client.post(
            f"/api/v1/bookings/{booking_id}/results",
            content=one_file(boundary, filename),
            headers=provider | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert_error_body(response, 400, "invalid_upload")
    assert ("文件名" if case == "long-filename" else "boundary") in response.json()["error"]["message"]
    assert await stored_results(backend, booking_id) == 0
    no_unhandled_errors(caplog)


@pytest.mark.parametrize("case", HOSTILE_MULTIPART, ids=list(HOSTILE_MULTIPART))
async def test_catalogue_import_with_a_monstrous_part_header_or_boundary_is_refused(
    client, login, caplog, case
):
    staff = await login("demo-provider")
    boundary, filename = HOSTILE_MULTIPART[case]
    body = one_file(boundary, filename.replace(".pdf", ".csv"), "编号\n".encode())
    with caplog.at_level(logging.INFO):
        response = await client.post(
            PROVIDER_IMPORT,
            content=body,
            headers=staff | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
    assert_error_body(response, 400, "invalid_upload")
    no_unhandled_errors(caplog)


# --- declared sizes, stalls, departures -----------------------------------------------------------


class Body:
    """A request body sent chunk by chunk that records how much the server asked for."""

    def __init__(self, chunks: list[bytes], *, stall: bool = False) -> None:
        self.chunks, self.stall, self.sent = chunks, stall, 0

    async def __aiter__(self):
        for chunk in self.chunks:
            self.sent += len(chunk)
            yield chunk
        if self.stall:
            await asyncio.sleep(3600)


async def test_an_upload_declaring_more_than_the_limit_is_413_before_its_body_is_read(
    client, login, backend, caplog
):
    booking_id, _ = await completed_booking(client, login, backend)
    provider = await login("demo-provider")
    limit = ResultsSettings.of(backend.settings).max_file_bytes
    body = Body([one_file("b" * 16, "raw.bin", b"x" * 1024)] * 4)
    with caplog.at_level(logging.INFO):
        response = await client.post(
            f"/api/v1/bookings/{booking_id}/results",
            content=body,
            headers=provider
            | {"Content-Type": "multipart/form-data; boundary=" + "b" * 16, "Content-Length": str(limit * 2)},
        )
    assert_error_body(response, 413, "payload_too_large")
    assert body.sent == 0, "the server read the body of an upload it had to refuse"
    assert response.headers.get("connection") == "close"
    no_unhandled_errors(caplog)


async def test_a_chunked_upload_past_the_limit_is_413_and_leaves_nothing(client, login, backend, caplog):
    booking_id, _ = await completed_booking(client, login, backend)
    provider = await login("demo-provider")
    results = ResultsSettings.of(backend.settings)
    limit, results.max_file_bytes = results.max_file_bytes, 64 * 1024
    boundary = "b" * 16
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n').encode()
    # Several files, each under the file limit, together far past it (and no Content-Length).
    body = Body([head + b"x" * 60 * 1024 + b"\r\n"] * 40 + [f"--{boundary}--\r\n".encode()])
    try:
        with caplog.at_level(logging.INFO):
            response = await client.post(
                f"/api/v1/bookings/{booking_id}/results",
                content=body,
                headers=provider | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
    finally:
        results.max_file_bytes = limit
    assert_error_body(response, 413, "payload_too_large")
    assert body.sent < 64 * 1024 + 1024 * 1024 + 2 * 61 * 1024, "read on long after the limit"
    assert await stored_results(backend, booking_id) == 0
    assert leftover_files(backend) == []
    no_unhandled_errors(caplog)


async def test_a_body_that_stops_arriving_is_408_after_the_idle_timeout(client, login, backend, caplog):
    booking_id, _ = await completed_booking(client, login, backend)
    provider = await login("demo-provider")
    boundary = "b" * 16
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF-1.4 '
    ).encode()
    settings = backend.settings
    idle, settings.body_idle_timeout_seconds = settings.body_idle_timeout_seconds, 0.5
    try:
        with caplog.at_level(logging.INFO):
            started = asyncio.get_running_loop().time()
            upload = await client.post(
                f"/api/v1/bookings/{booking_id}/results",
                content=Body([head + b"x" * 4096], stall=True),
                headers=provider | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            sign_in = await client.post(
                "/api/v1/auth/dev-login",
                content=Body([b'{"username": "demo-'], stall=True),
                headers={"Content-Type": "application/json"},
            )
            waited = asyncio.get_running_loop().time() - started
    finally:
        settings.body_idle_timeout_seconds = idle
    for response in (upload, sign_in):
        assert_error_body(response, 408, "request_timeout")
        assert response.headers.get("connection") == "close"
    assert waited < 5
    assert await stored_results(backend, booking_id) == 0
    assert leftover_files(backend) == []
    no_unhandled_errors(caplog)


async def asgi_post(
    app: Any, path: str, headers: dict[str, str], messages: list[dict[str, Any]]
) -> list[Any]:
    """One request straight through the ASGI interface: ``messages`` are what the client sends,
    up to and including its ``http.disconnect`` (which httpx cannot send mid-body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    pending = list(messages)
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=30)
    return sent


async def test_a_client_leaving_mid_upload_is_an_info_line_and_leaves_nothing(client, login, backend, caplog):
    booking_id, _ = await completed_booking(client, login, backend)
    provider = await login("demo-provider")
    boundary = "b" * 16
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n%PDF-1.4 '
    ).encode()
    first = one_file(boundary, "whole.pdf")[: -len(f"--{boundary}--\r\n")]  # one file complete
    with caplog.at_level(logging.INFO):
        sent = await asgi_post(
            backend.app,
            f"/api/v1/bookings/{booking_id}/results",
            provider | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            [
                {"type": "http.request", "body": first + head + b"x" * 8192, "more_body": True},
                {"type": "http.disconnect"},
            ],
        )
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses and all(s < 500 for s in statuses), statuses
    assert await stored_results(backend, booking_id) == 0
    assert leftover_files(backend) == [], "the half-written file is still on disk"
    assert any("client left" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    no_unhandled_errors(caplog)
    booking = await client.get(f"/api/v1/bookings/{booking_id}", headers=provider)
    assert booking.json()["status"] == "completed"  # nothing was delivered


def raw_request(port: int, data: bytes, *, leave: bool = False, wait: float = 10.0) -> tuple[float, bytes]:
    """Send ``data`` over a plain socket and read until the server closes (or ``wait`` passes)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(data)
        if leave:
            return 0.0, b""
        sock.settimeout(wait)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except TimeoutError:
            answer += b"<still open>"
    return time.monotonic() - started, answer


@pytest.mark.slow
def test_a_real_server_closes_stalled_oversized_and_abandoned_bodies(tmp_path):
    """Under uvicorn: a stalled body is a 408 and a closed connection after the idle timeout, an
    announced giant a 413 and a closed connection at once, a client that leaves an info line."""
    with live_server(
        tmp_path, "sqlite", YIXIANG_BODY_IDLE_TIMEOUT_SECONDS="1", YIXIANG_LOG_LEVEL="INFO"
    ) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        head = b"POST /api/v1/auth/dev-login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        took, stalled = raw_request(port, head + b'Content-Length: 100\r\n\r\n{"user')
        assert stalled.startswith(b"HTTP/1.1 408") and b"request_timeout" in stalled, stalled[:300]
        assert not stalled.endswith(b"<still open>") and took < 5, took
        took, giant = raw_request(port, head + b'Content-Length: 10000000000\r\n\r\n{"user')
        assert giant.startswith(b"HTTP/1.1 413") and b"payload_too_large" in giant, giant[:300]
        assert not giant.endswith(b"<still open>") and took < 2, took
        raw_request(port, head + b'Content-Length: 100\r\n\r\n{"user', leave=True)
        deadline = time.monotonic() + 10
        while "client left" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.1)
        log = server.log()
    assert "client left" in log
    assert "unhandled error" not in log and "Traceback" not in log and " ERROR " not in log, log[-3000:]
