"""A form with several mistakes is refused once, naming every one of them (path, code, Chinese
message), so a phone client can mark every field at once instead of one per round trip."""

from __future__ import annotations

import uuid

from tests.catalogue.helpers import instrument_body
from tests.support import error_code


def by_field(response) -> dict[str, dict]:
    assert response.status_code == 400, response.text
    assert error_code(response) == "validation_error", response.text
    return {f["field"]: f for f in response.json()["error"]["details"]["fields"]}


async def test_three_bad_fields_are_all_named_in_one_answer(client, login):
    provider = await login("demo-provider")
    body = instrument_body(original_value_fen="三百万", latitude=91.5)
    body["service_items"][1]["turnaround_working_days"] = -2
    response = await client.post("/api/v1/provider/instruments", json=body, headers=provider)
    fields = by_field(response)
    assert set(fields) == {"original_value_fen", "latitude", "service_items[1].turnaround_working_days"}
    assert fields["original_value_fen"]["code"] == "wrong_type"
    assert fields["original_value_fen"]["message"] == "类型有误，应为整数"
    assert fields["latitude"]["code"] == "too_large"
    assert fields["service_items[1].turnaround_working_days"]["code"] == "too_small"
    message = response.json()["error"]["message"]
    assert message.startswith("输入有误：")
    assert all(name in message for name in fields)


async def test_missing_wrong_and_unknown_fields_together(client, login):
    researcher = await login("demo-researcher")
    response = await client.post(
        f"/api/v1/bookings/{uuid.uuid4()}/rating",
        json={"dimensions": {"timeliness": 9, "speed": 5}, "comment": 7, "stars": 5},
        headers=researcher,
    )
    fields = by_field(response)
    assert {name: f["code"] for name, f in fields.items()} == {
        "overall": "missing",
        "dimensions.timeliness": "too_large",
        "dimensions.speed": "unknown_field",
        "comment": "wrong_type",
        "stars": "unknown_field",
    }
    assert fields["overall"]["message"] == "缺少必填项"
    assert fields["stars"]["message"] == "不接受该字段"
    assert all(f["source"] == "body" for f in fields.values())


async def test_every_bad_item_of_a_list_is_named(client, login):
    provider = await login("demo-provider")
    first, second = instrument_body()["service_items"]
    items = [first | {"name": "", "mode": "teleport"}, second | {"internal_price_fen": 1.5}]
    response = await client.post(
        "/api/v1/provider/instruments", json=instrument_body(service_items=items), headers=provider
    )
    fields = by_field(response)
    assert {name: f["code"] for name, f in fields.items()} == {
        "service_items[0].name": "too_short",
        "service_items[0].mode": "invalid_choice",
        "service_items[1].internal_price_fen": "wrong_type",
    }


async def test_a_body_of_the_wrong_shape_is_one_error(client, login):
    researcher = await login("demo-researcher")
    response = await client.post("/api/v1/bookings", json=[1, 2], headers=researcher)
    fields = response.json()["error"]["details"]["fields"]
    assert response.status_code == 400
    assert [(f["field"], f["code"]) for f in fields] == [(None, "wrong_type")]


async def test_an_unknown_field_alone_is_still_refused(client):
    response = await client.post("/api/v1/auth/dev-login", json={"username": "demo-admin", "is_admin": True})
    assert by_field(response) == {
        "is_admin": {
            "field": "is_admin",
            "source": "body",
            "code": "unknown_field",
            "message": "不接受该字段",
            "reason": "Object contains unknown field `is_admin`",
        }
    }


async def test_a_valid_body_is_taken_as_before(client, login):
    provider = await login("demo-provider")
    body = instrument_body()
    created = await client.post("/api/v1/provider/instruments", json=body, headers=provider)
    assert created.status_code == 201, created.text
    assert created.json()["asset_number"] == body["asset_number"]
    assert [i["name"] for i in created.json()["service_items"]] == ["上机机时", "形貌观察"]


async def test_bad_query_parameters_get_codes_and_messages_too(client):
    response = await client.get("/api/v1/instruments/search", params={"limit": 0, "price_max": -1})
    fields = by_field(response)
    assert {name: f["code"] for name, f in fields.items()} == {"limit": "too_small", "price_max": "too_small"}
    assert fields["limit"]["source"] == "query"
