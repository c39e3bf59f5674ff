"""Logs never carry personal data or secrets; an unexpected failure is a generic 500 with a request id."""

from __future__ import annotations

import logging

import httpx
from litestar import get

from tests.support import make_settings
from yixiang.app import create_app
from yixiang.domains import Domain, load_domains
from yixiang.logs import JSONFormatter, redact
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
