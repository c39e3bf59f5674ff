"""What an answer says about itself: the methods a path allows, and one charset on text.

``OPTIONS``: when two controllers serve one path (the public list and the desk's form of
``/voucher-programs``, say), Litestar merges their routes but keeps the first controller's
``OPTIONS`` handler, which lists that controller's methods only and runs its guards.
:class:`AllowMiddleware` answers ``OPTIONS`` itself with every method of the path, signed in or
not (the OpenAPI document says as much). CORS preflights never get here: the CORS middleware
answers them before routing.

Charset: Litestar appends ``; charset=utf-8`` to every ``text/*`` media type, so a handler that
names its charset (``text/csv; charset=utf-8``, or a result file's stored type) got it twice.
:func:`one_charset` moves a named charset into the response's encoding, which Litestar then
writes once.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar, Response
from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

_CHARSET = re.compile(r";\s*charset=\"?([A-Za-z0-9._:-]+)\"?", re.IGNORECASE)


async def one_charset(response: Response[Any]) -> Response[Any]:
    """``after_request`` hook: a charset named in a text media type becomes the encoding.

    A coroutine: Litestar runs a plain function hook in its thread pool, a thread hop for every
    response (3% of a remembered search's CPU, and the wait for a pool thread under load)."""
    if not isinstance(response, Response):  # a file already made into ASGI (static files)
        return response
    media_type = response.media_type
    if isinstance(media_type, str) and media_type.startswith("text/") and ";" in media_type:
        named = _CHARSET.search(media_type)
        if named:
            response.media_type = (media_type[: named.start()] + media_type[named.end() :]).strip()
            response.encoding = named.group(1).lower()
    return response


def allowed_methods(app: Litestar) -> dict[str, str]:
    """Each path (as routing reports it, ``/bookings/{booking_id}``) → its ``Allow`` value."""
    methods: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            methods.setdefault(route.path_format, {"OPTIONS"}).update(route.methods)
    return {path: ", ".join(sorted(names)) for path, names in methods.items()}


class AllowMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "OPTIONS":
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        table = app.state.get("allowed_methods")
        if table is None:
            table = app.state.allowed_methods = allowed_methods(app)
        allow = table.get(scope.get("path_template", ""))
        if allow is None:
            await self.app(scope, receive, send)
            return
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 204,
            "headers": [(b"allow", allow.encode())],
        }
        await send(start)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
