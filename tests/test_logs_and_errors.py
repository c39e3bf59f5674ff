"""Logs never carry personal data or secrets; an unexpected failure is a generic 500 with a request id."""

from __future__ import annotations

import json
import logging
import uuid

import httpx
import pytest
from litestar import get

from tests.live_server import live_server
from tests.support import make_settings
from yixiang.app import create_app
from yixiang.domains import Domain, load_domains
from yixiang.logs import JSONFormatter, redact, user_tag, user_tag_key
from yixiang.runtime import Runtime


def test_phone_numbers_identity_numbers_and_tokens_are_masked():
    line = redact(
        "user 13812345678 id 330106199001011234 Authorization: Bearer eyJhbGciOiJI.eyJzdWIi.sig "
        "password=hunter2 app_secret: abcdef"
    )
    assert "13812345678" not in line and "138****5678" in line
    assert "330106199001011234" not in line
    assert "eyJhbGciOiJI" not in line
    assert "hunter2" not in line and "abcdef" not in line


def test_json_log_lines_are_redacted_too():
    record = logging.LogRecord("yixiang", logging.INFO, __file__, 1, "booked by +86 139-0000", (), None)
    record.msg = "booked by 13900001111"
    assert "13900001111" not in JSONFormatter().format(record)


@get("/test/explode")
async def explode() -> None:
    raise RuntimeError("secret internals 13812345678")


async def test_an_unexpected_error_is_a_generic_500_with_a_request_id(tmp_path, caplog):
    settings = make_settings("sqlite", tmp_path, demo_data=False)
    runtime = Runtime.build(
        settings, domains=[*load_domains(), Domain(name="test", route_handlers=[explode])]
    )
    app = create_app(settings, runtime)
    async with (
        app.lifespan(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
        ) as client,
    ):
        with caplog.at_level(logging.ERROR):
            response = await client.get("/test/explode", headers={"X-Request-ID": "req-0123456789"})
    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "internal_error"
    assert body["error"]["details"] == {"request_id": "req-0123456789"}
    assert "secret internals" not in response.text
    assert any("req-0123456789" in r.getMessage() for r in caplog.records)


# --- access lines ---------------------------------------------------------------------------


def _access_lines(caplog) -> list[logging.LogRecord]:
    lines = [r for r in caplog.records if r.name == "yixiang.access"]
    caplog.clear()
    return lines


async def test_each_request_leaves_one_access_line_with_the_route_and_a_hashed_user(
    backend, client, login, caplog
):
    headers = await login("demo-researcher")
    with caplog.at_level(logging.INFO, logger="yixiang.access"):
        caplog.clear()
        me = await client.get("/api/v1/me", headers=headers | {"X-Request-ID": "req-me-000001"})
        (line,) = _access_lines(caplog)
        user_id = me.json()["id"]
        assert line.fields == {
            "method": "GET",
            "route": "/api/v1/me",
            "status": 200,
            "duration_ms": line.fields["duration_ms"],
            "user": user_tag(user_id, user_tag_key(backend.settings.secret_key)),
        }
        assert line.fields["duration_ms"] >= 0
        assert "req-me-000001" in line.getMessage()
        assert user_id not in line.getMessage() and "demo-researcher" not in line.getMessage()

        missing = uuid.uuid4()
        response = await client.get(f"/api/v1/instruments/{missing}")
        (line,) = _access_lines(caplog)
        assert response.status_code == 404
        assert line.fields["route"] == "/api/v1/instruments/{instrument_id}"
        assert line.fields["status"] == 404 and line.fields["user"] == "-"
        assert str(missing) not in line.getMessage()
        assert response.headers["x-request-id"] in line.getMessage()


async def test_a_request_no_route_matches_is_logged_without_its_path(client, caplog):
    with caplog.at_level(logging.INFO, logger="yixiang.access"):
        caplog.clear()
        response = await client.get("/no/such/page/13812345678")
        (line,) = _access_lines(caplog)
    assert response.status_code == 404
    assert response.headers["x-request-id"]  # every answer has its id, this one too
    assert line.fields["route"] == "(no route)" and line.fields["status"] == 404
    assert "13812345678" not in line.getMessage()


def test_an_access_line_in_production_format_is_one_json_object_with_its_fields():
    record = logging.LogRecord("yixiang.access", logging.INFO, __file__, 1, "GET /api/v1/me 200", (), None)
    record.fields = {"method": "GET", "route": "/api/v1/me", "status": 200, "duration_ms": 3.5, "user": "ab"}
    entry = json.loads(JSONFormatter().format(record))
    assert entry["route"] == "/api/v1/me" and entry["status"] == 200 and entry["duration_ms"] == 3.5


# --- one format for every logger of the server --------------------------------------------


@pytest.mark.slow
def test_the_production_server_writes_every_line_as_json(tmp_path):
    # The real server: uvicorn's start-up and shutdown lines, the app's, and the access lines.
    with live_server(tmp_path, "sqlite", YIXIANG_LOG_FORMAT="json", YIXIANG_LOG_LEVEL="INFO") as server:
        token = server.token("demo-researcher")
        response = httpx.get(f"{server.base_url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
    lines = [line for line in server.log().splitlines() if line.strip()]
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON log line: {line!r}")
    loggers = {entry["logger"] for entry in entries}
    assert {"uvicorn.error", "yixiang.access"} <= loggers
    assert any("Uvicorn running on" in entry["message"] for entry in entries)
    (me,) = [e for e in entries if e["logger"] == "yixiang.access" and e["route"] == "/api/v1/me"]
    assert (
        me["status"] == 200 and me["method"] == "GET" and me["request_id"] == response.headers["x-request-id"]
    )
    assert me["user"] != "-" and response.json()["id"] not in json.dumps(entries)
