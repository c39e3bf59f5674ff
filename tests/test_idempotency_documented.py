"""The published OpenAPI document declares ``Idempotency-Key`` on exactly the operations that honour
it. Which do is asked of the running app, not of a list: every route and method is called with a
malformed key, and the idempotency middleware refuses it (400 ``idempotency_key_invalid``, before
the route does anything) exactly where it takes keys."""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar.routes import HTTPRoute

from tests.support import error_code

MALFORMED = {"Idempotency-Key": "not a key!"}  # spaces and "!" are outside the key's alphabet


def _path_value(match: re.Match[str]) -> str:
    return {"uuid": str(uuid.uuid4()), "int": "1", "date": "2026-01-05"}.get(match.group(1), "x")


def _operations(app: Any) -> list[tuple[str, str, str]]:
    """(method, documented path, a concrete path) for every operation the document lists."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        concrete = re.sub(r"\{[^}:]+:([^}]+)\}", _path_value, route.path)
        for method in route.methods - {"HEAD", "OPTIONS"}:
            found.append((method, route.path_format, concrete))
    return sorted(found)


def _declares_the_key(operation: dict[str, Any]) -> bool:
    return any(
        p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation.get("parameters", [])
    )


async def test_the_key_is_documented_where_it_is_honoured_and_nowhere_else(client, backend):
    spec = (await client.get("/schema/openapi.json")).json()
    honoured, declared = set(), set()
    checked = 0
    for method, path, concrete in _operations(backend.app):
        operation = spec["paths"].get(path, {}).get(method.lower())
        if operation is None:
            continue  # not in the document (the schema pages themselves)
        checked += 1
        response = await client.request(method, concrete, headers=MALFORMED)
        if response.status_code == 400 and error_code(response) == "idempotency_key_invalid":
            honoured.add((method, path))
        if _declares_the_key(operation):
            declared.add((method, path))
    assert checked > 50
    assert ("POST", "/api/v1/bookings") in honoured
    assert declared == honoured


async def test_the_declared_header_says_what_a_key_may_be(client):
    spec = (await client.get("/schema/openapi.json")).json()
    created = spec["paths"]["/api/v1/bookings"]["post"]
    (header,) = [p for p in created["parameters"] if p["name"] == "Idempotency-Key"]
    assert header["in"] == "header" and header["required"] is False
    assert re.fullmatch(header["schema"]["pattern"], "booking-2026-12-02:retry.1")
    assert not re.fullmatch(header["schema"]["pattern"], MALFORMED["Idempotency-Key"])
    assert "Idempotent-Replayed" in created["responses"]["201"]["headers"]
