# ruff: noqa: E501 - the tables read best one case a line
"""The API's input contract, as a careless or hostile client meets it: every number has bounds that
fit its column (out of range is a 400 naming the field, on SQLite and PostgreSQL alike, never a
driver overflow), a JSON body means what it says (no string for an integer, no float for an
integer, no string or 0/1 for a boolean), and a correction that moves nothing is refused."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.booking.world import ALWAYS_OPEN
from tests.catalogue.helpers import instrument_body
from tests.support import error_code
from tests.vouchers.desk import VoucherDesk, new_org, program_body

NOWHERE = uuid.uuid4()  # bodies are checked before any lookup: no object is needed
HUGE = 10**20  # beyond BIGINT
INT4 = 2**31  # beyond an Integer column: overflows PostgreSQL, fits SQLite


def refused_naming(response: Any, field: str) -> None:
    assert response.status_code == 400, response.text
    assert error_code(response) == "validation_error", response.text
    assert field in [f["field"] for f in response.json()["error"]["details"]["fields"]], response.text
    assert field in response.json()["error"]["message"]


def service_item(**changes: Any) -> dict[str, Any]:
    item = {
        "name": "常规检测",
        "mode": "sample_testing",
        "price_unit": "per_sample",
        "internal_price_fen": 100,
        "external_price_fen": 200,
    }
    return {**item, **changes}


def with_item(**changes: Any) -> dict[str, Any]:
    return instrument_body(service_items=[service_item(**changes)])


# (who, method, path, query, body, field named in the answer)
OUT_OF_RANGE = [
    ("anonymous", "GET", "/api/v1/instruments/search", {"price_min": HUGE}, None, "price_min"),
    ("anonymous", "GET", "/api/v1/instruments/search", {"price_max": HUGE}, None, "price_max"),
    ("anonymous", "GET", "/api/v1/instruments/search", {"price_min": INT4}, None, "price_min"),
    ("anonymous", "GET", "/api/v1/instruments/search", {"price_max": -1}, None, "price_max"),
    ("anonymous", "GET", "/api/v1/instruments/search", {"limit": HUGE}, None, "limit"),
    ("anonymous", "GET", "/api/v1/instruments/search", {"lat": 1e300}, None, "lat"),
    ("demo-researcher", "GET", "/api/v1/bookings", {"offset": HUGE}, None, "offset"),
    ("demo-researcher", "GET", "/api/v1/bookings", {"limit": -1}, None, "limit"),
    ("demo-provider", "GET", "/api/v1/provider/instruments", {"limit": HUGE}, None, "limit"),
    ("demo-admin", "GET", "/api/v1/admin/working-days", {"year": HUGE}, None, "year"),
    ("anonymous", "GET", f"/api/v1/instruments/{NOWHERE}/ratings", {"limit": HUGE}, None, "limit"),
    ("anonymous", "GET", f"/api/v1/results/{NOWHERE}/download", {"uid": "x", "exp": HUGE, "sig": "x"}, None, "exp"),
    ("demo-provider", "POST", "/api/v1/provider/instruments", None, with_item(internal_price_fen=INT4), "service_items[0].internal_price_fen"),
    ("demo-provider", "POST", "/api/v1/provider/instruments", None, with_item(external_price_fen=HUGE), "service_items[0].external_price_fen"),
    ("demo-provider", "POST", "/api/v1/provider/instruments", None, with_item(turnaround_working_days=HUGE), "service_items[0].turnaround_working_days"),
    ("demo-provider", "POST", "/api/v1/provider/instruments", None, instrument_body(original_value_fen=HUGE), "original_value_fen"),
    ("demo-provider", "POST", "/api/v1/provider/instruments", None, instrument_body(latitude=1e300), "latitude"),
    ("demo-researcher", "POST", "/api/v1/bookings", None, {"instrument_id": str(NOWHERE), "mode": "sample_testing", "samples": HUGE}, "samples"),
    ("demo-provider", "POST", f"/api/v1/bookings/{NOWHERE}/complete", None, {"samples": HUGE}, "samples"),
    ("demo-provider", "POST", f"/api/v1/bookings/{NOWHERE}/complete", None, {"samples": -1}, "samples"),
    ("demo-provider", "PUT", f"/api/v1/provider/instruments/{NOWHERE}/calendar", None, {**ALWAYS_OPEN, "sample_capacity_per_day": HUGE}, "sample_capacity_per_day"),
    ("demo-researcher", "POST", f"/api/v1/bookings/{NOWHERE}/rating", None, {"overall": HUGE}, "overall"),
    ("demo-science-bureau", "POST", "/api/v1/voucher-programs", None, program_body(budget_fen=HUGE), "budget_fen"),
    ("demo-science-bureau", "POST", "/api/v1/voucher-programs", None, program_body(coverage_bp=HUGE), "coverage_bp"),
    ("demo-science-bureau", "POST", f"/api/v1/voucher-programs/{NOWHERE}/grants", None, {"enterprise_id": str(NOWHERE), "amount_fen": HUGE}, "amount_fen"),
    ("demo-science-bureau", "POST", f"/api/v1/voucher-programs/{NOWHERE}/adjustments", None, {"grant_id": str(NOWHERE), "amount_fen": -HUGE, "reason": "核减"}, "amount_fen"),
    ("demo-provider", "POST", f"/api/v1/bookings/{NOWHERE}/voucher-refund", None, {"amount_fen": HUGE, "reason": "退款"}, "amount_fen"),
]  # fmt: skip


async def call(client, login, who, method, path, query, body):
    headers = await login(who) if who != "anonymous" else {}
    return await client.request(method, path, params=query, json=body, headers=headers)


@pytest.mark.parametrize(
    ("who", "method", "path", "query", "body", "field"),
    OUT_OF_RANGE,
    ids=[f"{m} {p.split('/')[3]} {f}" for _, m, p, _, _, f in OUT_OF_RANGE],
)
async def test_a_number_beyond_its_column_is_a_400_naming_the_field(
    client, login, who, method, path, query, body, field
):
    refused_naming(await call(client, login, who, method, path, query, body), field)


def _numbers(schema: dict[str, Any], components: dict[str, Any], where: str, seen: set[str]):
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name not in seen:
            yield from _numbers(components[name], components, name, seen | {name})
        return
    if schema.get("type") in ("integer", "number"):
        yield where, schema
    for key in ("oneOf", "anyOf", "allOf"):
        for inner in schema.get(key, []):
            if inner.get("type") in ("integer", "number"):  # bounds sit on the branch or its parent
                bounds = {k: schema[k] for k in ("minimum", "maximum") if k in schema}
                yield where, {**bounds, **inner}
            else:
                yield from _numbers(inner, components, where, seen)
    for name, inner in schema.get("properties", {}).items():
        yield from _numbers(inner, components, f"{where}.{name}", seen)
    if isinstance(schema.get("items"), dict):
        yield from _numbers(schema["items"], components, f"{where}[]", seen)


async def test_the_document_bounds_every_number_a_client_sends(client):
    document = (await client.get("/schema/openapi.json")).json()
    components = document["components"]["schemas"]
    unbounded = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            found = [
                found
                for parameter in operation.get("parameters", [])
                for found in _numbers(parameter["schema"], components, parameter["name"], set())
            ]
            for media in operation.get("requestBody", {}).get("content", {}).values():
                found += list(_numbers(media.get("schema", {}), components, "body", set()))
            for where, schema in found:
                if "minimum" not in schema or "maximum" not in schema:
                    unbounded.append(f"{method.upper()} {path} {where}")
    assert not unbounded, unbounded


# (who, method, path, body, field): each body is valid but for one lax value
def booking_body(**changes: Any) -> dict[str, Any]:
    return {"instrument_id": str(NOWHERE), "mode": "sample_testing", "samples": 1, **changes}


LAX = [
    ("demo-researcher", "POST", "/api/v1/bookings", booking_body(samples="1"), "samples"),
    ("demo-researcher", "POST", "/api/v1/bookings", booking_body(samples=1.0), "samples"),
    ("demo-researcher", "POST", "/api/v1/bookings", booking_body(samples=True), "samples"),
    ("demo-provider", "POST", f"/api/v1/bookings/{NOWHERE}/complete", {"samples": "2"}, "samples"),
    ("demo-provider", "PUT", f"/api/v1/provider/instruments/{NOWHERE}/calendar", {**ALWAYS_OPEN, "needs_approval": "true"}, "needs_approval"),
    ("demo-provider", "PUT", f"/api/v1/provider/instruments/{NOWHERE}/calendar", {**ALWAYS_OPEN, "needs_approval": 1}, "needs_approval"),
    ("demo-provider", "PUT", f"/api/v1/provider/instruments/{NOWHERE}/calendar", {**ALWAYS_OPEN, "slot_minutes": "30"}, "slot_minutes"),
    ("demo-provider", "PUT", f"/api/v1/provider/instruments/{NOWHERE}/calendar", {**ALWAYS_OPEN, "slot_minutes": 30.0}, "slot_minutes"),
    ("demo-provider", "POST", "/api/v1/provider/instruments", instrument_body(open_to_public="yes"), "open_to_public"),
    ("demo-provider", "POST", "/api/v1/provider/instruments", instrument_body(voucher_eligible=0), "voucher_eligible"),
    ("demo-provider", "POST", "/api/v1/provider/instruments", instrument_body(original_value_fen="100000"), "original_value_fen"),
    ("demo-provider", "POST", "/api/v1/provider/instruments", with_item(external_price_fen=99.5), "service_items[0].external_price_fen"),
    ("demo-researcher", "POST", f"/api/v1/bookings/{NOWHERE}/rating", {"overall": "5"}, "overall"),
    ("demo-science-bureau", "POST", "/api/v1/voucher-programs", program_body(year=str(2026)), "year"),
    ("demo-science-bureau", "POST", "/api/v1/voucher-programs", program_body(requires_tech_sme=0), "requires_tech_sme"),
    ("demo-science-bureau", "POST", f"/api/v1/voucher-programs/{NOWHERE}/adjustments", {"grant_id": str(NOWHERE), "amount_fen": "100", "reason": "调增"}, "amount_fen"),
    ("demo-admin", "PUT", "/api/v1/admin/working-days/2099-01-05", {"is_working_day": "false"}, "is_working_day"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "field"),
    LAX,
    ids=[f"{m} {p.split('/')[3]} {f} #{i}" for i, (_, m, p, _, f) in enumerate(LAX)],
)
async def test_a_json_value_of_the_wrong_type_is_a_400_naming_the_field(
    client, login, who, method, path, body, field
):
    refused_naming(await call(client, login, who, method, path, None, body), field)


async def test_a_zero_adjustment_is_refused_and_writes_nothing(backend, login):
    desk = VoucherDesk(backend, login)
    program = await desk.program(budget_fen=1_000_000)
    grant = await desk.grant(program["id"], await new_org(backend), 500_000)
    url = f"/api/v1/voucher-programs/{program['id']}/adjustments"
    zero = await desk.client.post(
        url, json={"grant_id": grant["id"], "amount_fen": 0, "reason": "无变化"}, headers=await desk.bureau()
    )
    assert zero.status_code == 400, zero.text
    assert error_code(zero) == "zero_adjustment"
    assert zero.json()["error"]["details"]["field"] == "amount_fen"
    assert await desk.balances(grant["id"]) == (500_000, 0)
    check = await desk.client.get("/api/v1/ledger/check", headers=await desk.headers("demo-admin"))
    assert check.json()["ok"] is True and check.json()["entries_without_lines"] == 0
