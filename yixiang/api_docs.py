"""The browsable API documentation at ``/schema``: Redoc, served from the application itself.

Litestar's viewers load their scripts, fonts and favicon from public CDNs, which government
intranets cannot reach and which are slow from mainland China. Here the one viewer (Redoc, its
standalone bundle vendored under ``yixiang/static/redoc/``, see the README there) comes from
``/schema/assets/``, without web fonts, and the page's content security policy
(``yixiang.security``) lets the browser load nothing from another host.

``YIXIANG_API_DOCS=off`` turns the browsable pages and their assets off (404). The OpenAPI
document itself (``/schema/openapi.json`` and ``.yaml``) stays: the mini-program's client code is
generated from it, and it says nothing the API does not answer anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RedocRenderPlugin,
    YamlRenderPlugin,
)
from litestar.static_files import create_static_files_router

DOCS_PATH = "/schema"
ASSETS = Path(__file__).parent / "static" / "redoc"
ASSETS_PATH = "/assets"
# An empty icon: the browser asks no host (not even ours) for a favicon.
NO_FAVICON = "<link rel='icon' href='data:,'>"


class LocalRedoc(RedocRenderPlugin):
    """Redoc at ``/schema`` and ``/schema/redoc``, its bundle at ``/schema/assets/``."""

    def __init__(self) -> None:
        super().__init__(
            js_url=f"{DOCS_PATH}{ASSETS_PATH}/redoc.standalone.js",
            google_fonts=False,
            path=["/", "/redoc"],
            favicon=NO_FAVICON,
        )

    def receive_router(self, router: Router) -> None:
        router.register(
            create_static_files_router(
                path=ASSETS_PATH,
                directories=[ASSETS],
                name="api_docs_assets",
                cache_control=CacheControlHeader(max_age=86_400, public=True),
            )
        )


class NoBrowsableDocs(OpenAPIRenderPlugin):
    """Takes ``/schema`` itself when the docs are off, so it answers 404 instead of falling to
    the first other plugin (the JSON document)."""

    def __init__(self) -> None:
        super().__init__(path="/")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        raise NotFoundException()


def render_plugins(browsable: bool) -> list[OpenAPIRenderPlugin]:
    """What ``/schema`` serves: the OpenAPI document always, the viewer when ``browsable``."""
    documents: list[OpenAPIRenderPlugin] = [JsonRenderPlugin(), YamlRenderPlugin()]
    return [LocalRedoc() if browsable else NoBrowsableDocs(), *documents]
