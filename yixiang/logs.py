"""Structured logs that never print phone numbers, tokens or secrets (PIPL): one format for the
app, uvicorn and every library (JSON in production, plain text in development), and one access
line per request."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litestar.enums import ScopeType
    from litestar.types import ASGIApp, Message, Receive, Scope, Send
else:  # the command line configures logging without importing the web framework (litestar.enums does)

    class ScopeType:
        HTTP = "http"  # the value of litestar.enums.ScopeType.HTTP, a str enum


request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

_REDACTIONS = [
    # mainland mobile numbers, with or without +86
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)\d{4}(\d{4})(?!\d)"), r"\1****\2"),
    # 18-character resident identity numbers
    (re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])"), r"\1********\2"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+"), "[jwt]"),
    (
        re.compile(
            r"(?i)((?:password|secret|token|access_token|app_secret|aes_key|sig)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&,}]+"
        ),
        r"\1[redacted]",
    ),
]


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "request_id": request_id_var.get(),
            "message": redact(record.getMessage()),
        }
        # a line's own fields (the access line's method, route, status ...), as JSON values
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER_NAME = "yixiang"
# alembic 1.20 announces each of its plugins at INFO on every migration check
QUIET_LOGGERS = ("jieba", "httpx", "aiosqlite", "asyncio", "alembic.runtime.plugins")


def make_formatter(fmt: str) -> logging.Formatter:
    """The one formatter every line goes through: ``json`` or ``text``."""
    return JSONFormatter() if fmt == "json" else RedactingFormatter(TEXT_FORMAT)


def configure_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(fmt))
    handler.set_name(HANDLER_NAME)
    root = logging.getLogger()
    # Replace only our own handler: a host (a test runner, a log shipper) may have added others.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != HANDLER_NAME] + [handler]
    root.setLevel(level)
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def uvicorn_log_config(fmt: str, level: str) -> dict[str, Any]:
    """uvicorn's ``log_config``: its loggers without handlers of their own, so their lines reach
    the root handler :func:`configure_logging` sets up, in the same format as the app's. Given to
    uvicorn rather than applied here because each server process (``--workers N``) applies it.
    uvicorn's access log stays off: :class:`AccessLogMiddleware` writes the access lines."""
    own = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"yixiang": {"()": "yixiang.logs.make_formatter", "fmt": fmt}},
        "handlers": {
            HANDLER_NAME: {
                "class": "logging.StreamHandler",
                "formatter": "yixiang",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": [HANDLER_NAME], "level": level},
        "loggers": {
            "uvicorn": own,
            "uvicorn.error": own,
            "uvicorn.access": own,
            **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        },
    }


access_log = logging.getLogger("yixiang.access")


def user_tag_key(secret_key: str) -> bytes:
    """The key of :func:`user_tag`, derived from the secret key: the tokens' key signs nothing else."""
    return hmac.new(secret_key.encode(), b"yixiang access log user tag", hashlib.sha256).digest()


def user_tag(user_id: object, key: bytes) -> str:
    """A signed-in user as the logs name them: the same tag for the same user across lines and
    processes, from which neither the id nor the phone can be read back (keyed: ids are few
    enough to try them all against a plain hash)."""
    return hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()[:16]


class AccessLogMiddleware:
    """One line per request once its answer is sent: method, route template (not the path, which
    holds ids), status, milliseconds, request id, and the signed-in user's :func:`user_tag`.

    Wraps the whole application (requests no route matches too); reads the route and the user
    from the scope the router and the sign-in middleware fill in on the way in."""

    def __init__(
        self, app: ASGIApp, secret_key: str, observe: Callable[[str, str, int, float], None] | None = None
    ) -> None:
        self.app = app
        self.key = user_tag_key(secret_key)
        self.observe = observe  # metrics (yixiang.metrics): method, route, status, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app fails before answering, the server answers 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            seconds = time.perf_counter() - started
            milliseconds = round(seconds * 1000, 1)
            # a request refused by admission control (yixiang.admission) never reached the router
            shed = scope.get("state", {}).get("shed")
            route = "(shed)" if shed else scope.get("path_template") or "(no route)"
            user_id = getattr(scope.get("user"), "user_id", None)
            user = user_tag(user_id, self.key) if user_id is not None else "-"
            method = scope["method"]
            if self.observe is not None:
                self.observe(method, route, status, seconds)
            access_log.info(
                "%s %s %d %.1f ms request=%s user=%s",
                method,
                route,
                status,
                milliseconds,
                request_id_var.get(),
                user,
                extra={
                    "fields": {
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": milliseconds,
                        "user": user,
                    }
                },
            )


_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class RequestIdMiddleware:
    """Tags each request with an id (the caller's ``X-Request-ID`` if sane) and echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
