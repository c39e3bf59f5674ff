"""The HTTP shell: probes, OpenAPI, demo sign-in, and one error body for every kind of bad input."""

from __future__ import annotations

import pytest

from accounts.demo import ACCOUNTS
from tests.support import error_code

DEMO_USERNAMES = [username for username, *_ in ACCOUNTS]


async def test_health_and_ready_answer_200(client):
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "store": "ok"}


async def test_openapi_lists_the_routes(client):
    spec = (await client.get("/schema/openapi.json")).json()
    for path in ("/health", "/ready", "/api/v1/auth/dev-login", "/api/v1/auth/login", "/api/v1/me"):
        assert path in spec["paths"], path


def test_readme_lists_every_demo_account():
    readme = open("README.md", encoding="utf-8").read()
    for username in DEMO_USERNAMES:
        assert f"`{username}`" in readme, username


@pytest.mark.parametrize("username", DEMO_USERNAMES)
async def test_dev_login_gives_each_demo_account_a_working_token(client, username):
    response = await client.post("/api/v1/auth/dev-login", json={"username": username})
    assert response.status_code == 200
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {response.json()['token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == username
    assert me.json()["memberships"], "every demo account belongs to an organisation"


async def test_dev_login_for_an_unknown_user_is_404(client):
    response = await client.post("/api/v1/auth/dev-login", json={"username": "nobody-here"})
    assert response.status_code == 404
    assert error_code(response) == "not_found"


async def test_malformed_json_gets_the_error_body(client):
    response = await client.post(
        "/api/v1/auth/dev-login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert error_code(response) == "invalid_json"


async def test_unknown_field_is_named(client):
    response = await client.post("/api/v1/auth/dev-login", json={"username": "demo-admin", "is_admin": True})
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert [f["field"] for f in response.json()["error"]["details"]["fields"]] == ["is_admin"]
    assert "is_admin" in response.json()["error"]["message"]


async def test_wrong_type_is_named(client):
    response = await client.post("/api/v1/auth/dev-login", json={"username": 42})
    assert response.status_code == 400
    assert error_code(response) == "validation_error"
    assert response.json()["error"]["details"]["fields"][0]["field"] == "username"


async def test_missing_field_is_named(client):
    response = await client.post("/api/v1/auth/login", json={"username": "demo-admin"})
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"][0]["field"] == "password"


async def test_unknown_route_and_wrong_method_get_the_error_body(client):
    missing = await client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404
    assert error_code(missing) == "not_found"
    wrong = await client.get("/api/v1/auth/dev-login")
    assert wrong.status_code == 405
    assert error_code(wrong) == "method_not_allowed"


async def test_responses_carry_a_request_id_and_security_headers(client):
    response = await client.get("/health", headers={"X-Request-ID": "abcdef1234567890"})
    assert response.headers["x-request-id"] == "abcdef1234567890"
    assert response.headers["x-content-type-options"] == "nosniff"
    generated = await client.get("/health", headers={"X-Request-ID": "bad id!"})
    assert generated.headers["x-request-id"] != "bad id!"


async def test_large_responses_are_gzipped(client):
    response = await client.get("/schema/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert response.headers.get("content-encoding") == "gzip"
