"""What answers say about themselves: one charset on text, the file types of exports in the
OpenAPI document, and ``OPTIONS`` naming every method a path has."""

from __future__ import annotations

import re

from litestar import Response

from yixiang.http_meta import one_charset
from yixiang.openapi import CSV, XLSX

EXPORTS = ["/api/v1/provider/instruments/export", "/api/v1/settlements/{batch_id}/export"]


async def test_a_csv_export_names_its_charset_once(client, login):
    provider = await login("demo-provider")
    for query in ({}, {"format": "csv"}):
        response = await client.get("/api/v1/provider/instruments/export", params=query, headers=provider)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
    xlsx = await client.get("/api/v1/provider/instruments/export?format=xlsx", headers=provider)
    assert xlsx.headers["content-type"] == XLSX


async def test_a_charset_a_handler_names_is_the_one_sent():
    for named, sent in [
        ("text/csv; charset=utf-8", "text/csv; charset=utf-8"),
        ("text/plain; charset=GBK", "text/plain; charset=gbk"),
        ('text/plain;charset="utf-8"; format=flowed', "text/plain; format=flowed; charset=utf-8"),
        ("text/plain", "text/plain; charset=utf-8"),
    ]:
        charset_set = await one_charset(Response(b"x", media_type=named))
        answer = charset_set.to_asgi_response(app=None, request=None)  # type: ignore[arg-type]
        content_type = dict(answer.encoded_headers)[b"content-type"].decode()
        assert content_type == sent, (named, content_type)
        assert len(re.findall("charset", content_type)) == 1


async def test_exports_are_described_as_files_in_the_document(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path in EXPORTS:
        ok = paths[path]["get"]["responses"]["200"]
        assert set(ok["content"]) == {CSV, XLSX}, ok
        assert all(
            media["schema"] == {"type": "string", "format": "binary"} for media in ok["content"].values()
        )


async def test_options_names_every_method_of_a_path_signed_in_or_not(client, login):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    researcher = await login("demo-researcher")
    zero = "00000000-0000-0000-0000-000000000000"
    for path, item in paths.items():
        methods = {m.upper() for m in item if m in ("get", "post", "put", "patch", "delete")}
        url = re.sub(r"\{[a-z_]*id\}", zero, path).replace("{day}", "2099-01-05")
        url = url.replace("{year}", "2025").replace("{region}", "330100").replace("{region_code}", "330100")
        url = re.sub(r"\{[a-z_]+\}", "x", url)  # any other word (a table's name, an action)
        for headers in ({}, researcher):
            response = await client.options(url, headers=headers)
            assert response.status_code == 204, (path, response.status_code, response.text)
            allowed = {m.strip() for m in response.headers["allow"].split(",")}
            assert methods | {"OPTIONS"} == allowed, (path, allowed)
