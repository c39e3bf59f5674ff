"""Domain errors and their single mapping to HTTP.

Every failure a user can cause is a :class:`DomainError` subclass with a stable ``code``, an
HTTP ``status`` and a Chinese ``message``. The shell renders all of them, and Litestar's own
exceptions, into one body: ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, ClassVar

import asyncpg
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from yixiang.answers import Answer
from yixiang.field_errors import describe

log = logging.getLogger("yixiang.errors")


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    message: ClassVar[str] = "请求有误"

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or type(self).message  # type: ignore[misc]
        self.details = details
        super().__init__(self.message)


class InvalidInput(DomainError):
    status = 400
    code = "validation_error"
    message = "输入有误"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "未找到"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"
    message = "请先登录"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    message = "没有权限执行此操作"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    message = "操作冲突，请刷新后重试"


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    message = "服务暂时不可用，请稍后再试"


CLOSE_CONNECTION = {"Connection": "close"}  # the rest of an unread body is not worth reading


class InvalidJSON(InvalidInput):
    code = "invalid_json"
    message = "请求体不是合法的 JSON"


class InvalidUpload(InvalidInput):
    code = "invalid_upload"
    message = "上传内容有误"


class BodyTimeout(DomainError):
    status = 408
    code = "request_timeout"
    message = "请求内容长时间没有送达，请检查网络后重试"
    headers: ClassVar[dict[str, str]] = CLOSE_CONNECTION


class ClientDisconnected(DomainError):
    # nginx's "client closed request": counted with the client's errors, not the server's.
    status = 499
    code = "client_closed_request"
    message = "请求尚未发送完，连接已断开"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _request_id(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    headers = getattr(exc, "headers", None)
    return Answer(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)


def client_disconnected_handler(request: Request[Any, Any, Any], exc: ClientDisconnected) -> Response[Any]:
    # Nobody is left to read the answer; what the route was writing is already dropped.
    log.info("client left before its request body was complete (request %s)", _request_id(request))
    return Answer(error_body(exc.code, exc.message), status_code=exc.status)


def validation_error_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Every invalid field in one answer: ``details.fields`` lists each with its ``field`` (the
    path, e.g. ``service_items[0].mode``), ``source``, a stable ``code``, a Chinese ``message``,
    and msgspec's own ``reason``."""
    fields = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            reason = str(item.get("message", ""))
            field = str(item.get("key") or "").removeprefix("$.") or None
            unknown = _UNKNOWN_FIELD.search(reason)
            if unknown and (field or "").rpartition(".")[2] != unknown.group(1):
                # Litestar's own reports name these against the parent object
                field = unknown.group(1) if field in (None, "data") else f"{field}.{unknown.group(1)}"
            elif field == "data":
                field = None
            code, message = describe(reason)
            fields.append(
                {
                    "field": field,
                    "source": item.get("source"),
                    "code": code,
                    "message": message,
                    "reason": reason,
                }
            )
    detail = str(exc.detail or "")
    if not fields and detail:
        fields.append(
            {
                "field": None,
                "source": "body",
                "code": "invalid",
                "message": _zh_reason(detail),
                "reason": detail,
            }
        )
    names = [f["field"] for f in fields if f["field"]]
    message = "输入有误：" + "、".join(names) if names else "输入有误：" + _zh_reason(detail)
    return Answer(
        error_body("validation_error", message, {"fields": fields}),
        status_code=400,
    )


_UNKNOWN_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


def _zh_reason(detail: str) -> str:
    lowered = detail.lower()
    if "json" in lowered or "malformed" in lowered:
        return "请求体不是合法的 JSON"
    return "请检查请求内容"


_HTTP_CODES = {
    401: ("unauthenticated", "请先登录"),
    403: ("forbidden", "没有权限执行此操作"),
    404: ("not_found", "未找到"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("payload_too_large", "请求内容过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
    429: ("rate_limited", "请求过于频繁，请稍后再试"),
}


# What Litestar's multipart parser says (as 400s) when a form breaks its format or its limits.
_FORM_PARSER_REFUSALS = {
    "Invalid multipart/form-data": "上传内容不是合法的 multipart/form-data",
    "Unexpected eof in multipart/form-data": "上传内容不完整",
    "Request Entity Too Large": "上传内容超出解析上限：分段头（如文件名）过长或分段过多",
}


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, ValidationException):
        return validation_error_handler(request, exc)
    status = exc.status_code
    if isinstance(exc, NotAuthorizedException):
        status = 401
    elif isinstance(exc, PermissionDeniedException):
        status = 403
    elif isinstance(exc, NotFoundException):
        status = 404
    elif isinstance(exc, MethodNotAllowedException):
        status = 405
    if status >= 500:
        return internal_error_handler(request, exc)
    code, message = _HTTP_CODES.get(status, ("bad_request", "请求有误"))
    details: dict[str, Any] = {}
    if status == 400 and "json" in str(exc.detail).lower():
        code, message = "invalid_json", "请求体不是合法的 JSON"
        details = {"reason": str(exc.detail)}
    elif status == 400 and str(exc.detail) in _FORM_PARSER_REFUSALS:
        code, message = "invalid_upload", _FORM_PARSER_REFUSALS[str(exc.detail)]
        details = {"reason": str(exc.detail)}
    headers = exc.headers
    if status == 413:  # refused unread: close rather than drain the rest of the body
        headers = {**(exc.headers or {}), **CLOSE_CONNECTION}
        if isinstance(exc.extra, dict) and "max_bytes" in exc.extra:
            details = {"max_bytes": exc.extra["max_bytes"]}
            message = f"{message}（上限 {_size(exc.extra['max_bytes'])}）"
    return Answer(error_body(code, message, details), status_code=status, headers=headers)


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def database_unavailable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.warning("database unavailable (request %s): %s", _request_id(request), type(exc).__name__)
    return Answer(
        error_body("database_unavailable", "服务暂时不可用，请稍后再试"),
        status_code=503,
        headers={"Retry-After": "2"},
    )


def is_database_unavailable(exc: BaseException) -> bool:
    """A lost or refused database connection (down, restarting, failing over), not a bug."""
    if isinstance(exc, (OperationalError, PoolTimeoutError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return True
    seen: BaseException | None = exc
    for _ in range(10):  # the driver's own error sits a few causes down
        if seen is None:
            return False
        if isinstance(seen, (ConnectionError, OSError, TimeoutError)) or isinstance(
            seen, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    request_id = _request_id(request)
    if is_database_unavailable(exc):
        return database_unavailable_handler(request, exc)
    log.exception("unhandled error (request %s)", request_id, exc_info=exc)
    return Answer(
        error_body("internal_error", "服务器内部错误，请稍后再试", {"request_id": request_id}),
        status_code=500,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ClientDisconnected: client_disconnected_handler,
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
