"""The browsable API documentation: served by the application, nothing from another host, and
off in a deployment that says so (the OpenAPI document stays)."""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import make_settings
from yixiang.api_docs import ASSETS
from yixiang.app import create_app

VIEWER = "/schema/assets/redoc.standalone.js"


def _references(html: str) -> list[str]:
    """Every address the page makes the browser load or link to."""
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html)


async def test_the_docs_page_references_no_other_host(client):
    page = await client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    references = _references(page.text)
    assert VIEWER in references
    assert all(ref.startswith(("/", "data:")) and not ref.startswith("//") for ref in references), references
    assert "fonts.googleapis.com" not in page.text and "cdn.jsdelivr.net" not in page.text
    # The browser is told so too: whatever the viewer tries, only this host is allowed.
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "http" not in policy, policy
    assert (await client.get("/schema/redoc")).text == page.text


async def test_the_viewer_comes_from_the_application(client):
    bundle = (ASSETS / "redoc.standalone.js").read_bytes()
    served = await client.get(VIEWER)
    assert served.status_code == 200
    assert served.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert served.content == bundle
    # The README beside the bundle records what it is: the version and checksum must match it.
    readme = (ASSETS / "README.md").read_text(encoding="utf-8")
    [version] = re.findall(r"version \*\*([0-9.]+)\*\*", readme)
    assert f'const Hw="{version}"'.encode() in bundle or f'"{version}"'.encode() in bundle
    assert hashlib.sha256(bundle).hexdigest() in readme


@pytest.mark.parametrize("viewer", ["swagger", "elements", "rapidoc", "oauth2-redirect.html"])
async def test_no_other_viewer_loads_from_a_cdn(client, viewer):
    assert (await client.get(f"/schema/{viewer}")).status_code == 404


@pytest.fixture
async def docs_off(tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings("sqlite", tmp_path, api_docs=False))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        yield client


async def test_a_deployment_can_turn_the_browsable_docs_off(docs_off):
    for path in ("/schema", "/schema/", "/schema/redoc", VIEWER):
        assert (await docs_off.get(path)).status_code == 404, path
    document = await docs_off.get("/schema/openapi.json")
    assert document.status_code == 200 and "/api/v1/me" in document.json()["paths"]


async def test_the_document_is_amended_whichever_answer_builds_it(tmp_path):
    """The document is built on the first request under /schema (yixiang.openapi), not at start:
    a first request for the YAML, not the JSON, still gets our error body and retry header."""
    import yaml

    app = create_app(make_settings("sqlite", tmp_path))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        first = await client.get("/schema/openapi.yaml")
        assert first.status_code == 200
        document = yaml.safe_load(first.text)
        assert "Error" in document["components"]["schemas"]
        grant = document["paths"]["/api/v1/auth/dev-login"]["post"]
        assert grant["responses"]["409"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
        assert [p["name"] for p in grant["parameters"]].count("Idempotency-Key") == 1
        assert (await client.get("/schema/openapi.json")).json() == document


def test_request_bodies_have_names_of_their_own():
    """Two request bodies of one name become module-qualified components that the document's
    post-processing (yixiang.openapi.document_inputs) cannot find: refused unknown fields and
    item constraints would go undocumented."""
    from collections import Counter

    from yixiang.openapi import _inputs
    from yixiang.packages import DOMAIN_PACKAGES

    for package in DOMAIN_PACKAGES:
        importlib.import_module(f"{package}.plugin")
    twice = [name for name, n in Counter(cls.__name__ for cls in _inputs()).items() if n > 1]
    assert not twice, f"rename one of each: {twice}"
