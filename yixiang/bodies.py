"""Request bodies, on every route: how much, how slowly, in which form.

* A body larger than its route allows is refused with 413 before a byte of it is read, when the
  ``Content-Length`` says so, and as soon as the bytes say so otherwise (a chunked body). A route
  whose limit depends on the settings names it in ``opt[BODY_LIMIT]``; the others use Litestar's
  ``request_max_body_size``.
* A body that stops arriving (headers sent, then nothing) is answered 408 after
  ``body_idle_timeout_seconds`` instead of holding the request open for ever.
* A client that leaves before its body is complete has made no request: that is logged at info,
  never as a server error, and whatever the route was writing is dropped by its own clean-up.
* A multipart body needs a boundary of at most 70 characters (RFC 2046).
* JSON nested deeper than the decoder's recursion limit, or carrying invalid UTF-8, is a 400.

The checks run inside the route's own handling (when the body is first read), so every refusal
gets the route's error body, request id and headers.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from yixiang.errors import (
    BodyTimeout,
    ClientDisconnected,
    InvalidInput,
    InvalidJSON,
    InvalidUpload,
)

log = logging.getLogger("yixiang.bodies")

BODY_LIMIT = "body_limit"  # opt key: ``Callable[[Settings], int]``, the route's largest body
MAX_BOUNDARY = 70  # RFC 2046 §5.1.1
# A JSON string's ``\u0000`` escape (raw NUL bytes are not JSON at all), not an escaped backslash's.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class BodyGuardMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = scope["litestar_app"].state.settings
        received, complete, checked = 0, False, False
        limit: int | None = None  # looked up when the body is first read (never, for most GETs)

        async def guarded_receive() -> dict[str, Any]:
            nonlocal received, complete, checked, limit
            if complete:  # the body is in: what follows is the disconnect listener
                after: dict[str, Any] = await receive()
                return after
            if not checked:
                checked, limit = True, _body_limit(scope, settings)
                _check_headers(scope["headers"], limit)
            idle = settings.body_idle_timeout_seconds
            try:
                async with asyncio.timeout(idle):  # a timer handle: cheap on every receive
                    message: dict[str, Any] = await receive()
            except TimeoutError:
                log.info("request body stalled for %.0f s: answered 408", idle)
                raise BodyTimeout() from None
            if message["type"] == "http.disconnect":
                raise ClientDisconnected()
            received += len(message.get("body", b""))
            if limit is not None and received > limit:
                raise _too_large(limit)
            complete = not message.get("more_body", False)
            return message

        await self.app(scope, guarded_receive, send)


def _body_limit(scope: Any, settings: Any) -> int | None:
    handler = scope.get("route_handler")
    if handler is None:
        return None
    of_settings: Callable[[Any], int] | None = handler.opt.get(BODY_LIMIT)
    if of_settings is not None:
        return of_settings(settings)
    limit: int | None = handler.resolve_request_max_body_size()
    return limit


def _check_headers(raw_headers: list[tuple[bytes, bytes]], limit: int | None) -> None:
    headers = dict(raw_headers)
    declared = headers.get(b"content-length")
    if declared is not None and limit is not None:
        try:
            length = int(declared)
        except ValueError:
            raise InvalidInput("Content-Length 有误", field="Content-Length") from None
        if length > limit:
            raise _too_large(limit)
    media_type, _, params = headers.get(b"content-type", b"").decode("latin-1").partition(";")
    if media_type.strip().lower() == "multipart/form-data":
        boundary = _boundary(params)
        if not boundary:
            raise InvalidUpload("请以 multipart/form-data 上传，并给出 boundary")
        if len(boundary) > MAX_BOUNDARY:
            raise InvalidUpload(
                f"multipart boundary 过长（{len(boundary)} 个字符，最多 {MAX_BOUNDARY} 个）",
                field="Content-Type",
            )


def _boundary(params: str) -> str:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary":
            return value.strip().strip('"')
    return ""


def _too_large(limit: int) -> RequestEntityTooLarge:
    # Litestar's own exception: routes that answer it themselves (the WeChat webhook) still can.
    return RequestEntityTooLarge(extra={"max_bytes": limit})


class GuardedRequest(Request[Any, Any, Any]):
    """Litestar's request, with the two ways msgspec refuses JSON outside its ``DecodeError``
    (``RecursionError`` for deep nesting, ``UnicodeDecodeError`` inside strings) made a 400 too."""

    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError:
            raise InvalidJSON("请求体不是合法的 JSON：嵌套层数过多", reason="nested too deep") from None
        except UnicodeDecodeError as exc:
            raise InvalidJSON(
                "请求体不是合法的 JSON：含有无效的 UTF-8 字节", reason=f"invalid UTF-8 at byte {exc.start}"
            ) from None
        # PostgreSQL's text holds no NUL character: refused here, named, rather than by the database.
        if value is not None and _NUL_ESCAPE.search(await self.body()):
            raise InvalidJSON("请求内容不能含有空字符（\\u0000）", reason="NUL character in a string")
        return value
