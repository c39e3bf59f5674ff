"""Make the published OpenAPI document tell the truth:

- errors: every operation may answer with our one error body,
  ``{"error": {"code", "message", "details"}}``, not Litestar's default;
- sign-in: an operation that no guard or principal protects works signed in or not (the
  document's default is the bearer token), so it says so;
- request bodies: as msgspec describes the Structs, constraints and closed objects included;
- files: an operation that answers with a file (CSV/XLSX exports) names its media types, as its
  handler declares with ``opt=files(CSV, XLSX)``;
- retries: every operation that honours an ``Idempotency-Key`` (yixiang.idempotency) declares
  the header.

The document is built and amended on the first request under ``/schema`` (the router's
``before_request``, :func:`document_on_first_request`), not at start: an API process that is
never asked for it does not hold it (~2 MB).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar, Request, Router
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    Reference,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.routes import HTTPRoute

from yixiang.idempotency import KEY_PATTERN, honours_key
from yixiang.schemas import Input

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FILES = "yixiang_files"
_OR_JSON = "yixiang_files_or_json"


def files(*media_types: str, or_json: bool = False) -> dict[str, Any]:
    """A handler's ``opt``: it answers 200 with a file in one of ``media_types`` (``or_json``: or,
    by default, with the JSON its return annotation describes)."""
    return {_FILES: media_types, _OR_JSON: or_json}


ERROR_STATUSES = {
    "400": "输入有误（validation_error 等；details.fields 列出每个有误的字段：field、code、message）",
    "401": "未登录或登录已失效",
    "403": "没有权限",
    "404": "未找到（或无权知道其存在）",
    "409": "与当前状态冲突",
    "413": "请求内容过大",
    "429": "请求过于频繁",
    "503": "服务暂时不可用",
}

ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["error"],
    properties={
        "error": Schema(
            type=OpenAPIType.OBJECT,
            required=["code", "message", "details"],
            properties={
                "code": Schema(type=OpenAPIType.STRING, description="stable machine-readable code"),
                "message": Schema(type=OpenAPIType.STRING, description="a message for people (Chinese)"),
                "details": Schema(type=OpenAPIType.OBJECT),
            },
        )
    },
)


_DOCUMENTED = "yixiang_openapi_documented"


def document(app: Litestar) -> None:
    document_errors(app)
    document_sign_in_and_files(app)
    document_inputs(app)
    document_idempotency_key(app)


def document_on_first_request(request: Request[Any, Any, Any]) -> None:
    """Build and amend the document before the first answer that shows it (the render handlers
    read Litestar's document, which it builds on first use and then keeps)."""
    state = request.app.state
    if not state.get(_DOCUMENTED):
        document(request.app)
        state[_DOCUMENTED] = True


def documents_router(path: str) -> Router:
    """The router Litestar puts the document's and the viewer's handlers on."""
    return Router(path, route_handlers=[], include_in_schema=False, before_request=document_on_first_request)


def document_errors(app: Litestar) -> None:
    schema = app.openapi_schema
    if schema.components.schemas is None:
        schema.components.schemas = {}
    schema.components.schemas["Error"] = ERROR_SCHEMA
    reference = Reference(ref="#/components/schemas/Error")
    for path, item in (schema.paths or {}).items():
        if path in ("/health", "/ready") or path.startswith("/wechat"):
            continue
        for operation in (item.get, item.post, item.put, item.patch, item.delete):
            if operation is None:
                continue
            responses = operation.responses if operation.responses is not None else {}
            for status, description in ERROR_STATUSES.items():
                responses[status] = OpenAPIResponse(
                    description=description, content={"application/json": OpenAPIMediaType(schema=reference)}
                )
            operation.responses = responses


def _needs_sign_in(handler: HTTPRouteHandler) -> bool:
    guarded = any(getattr(g, "__name__", "").startswith("requires_") for g in handler.resolve_guards())
    return guarded or "principal" in handler.parsed_fn_signature.parameters


def _json_alone(content: dict[str, OpenAPIMediaType]) -> dict[str, OpenAPIMediaType]:
    """The JSON of a handler annotated ``SomeOut | Response[bytes]``: Litestar describes it as
    one of SomeOut and an empty schema (the file); the file is described apart."""
    media = content.get("application/json")
    schema = media.schema if media is not None else None
    if isinstance(schema, Schema) and schema.one_of:
        described = [s for s in schema.one_of if not (isinstance(s, Schema) and s == Schema())]
        if len(described) == 1:
            return {"application/json": OpenAPIMediaType(schema=described[0])}
    return {"application/json": media} if media is not None else {}


def document_sign_in_and_files(app: Litestar) -> None:
    paths = app.openapi_schema.paths or {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format not in paths:
            continue
        item = paths[route.path_format]
        for handler in route.route_handlers:
            for method in handler.http_methods:
                operation: Operation | None = getattr(item, method.lower(), None)
                if operation is None:
                    continue
                if not _needs_sign_in(handler):
                    operation.security = [{}, {"BearerToken": []}]
                media_types = handler.opt.get(_FILES)
                if media_types and operation.responses:
                    binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
                    content = {media: OpenAPIMediaType(schema=binary) for media in media_types}
                    answered = operation.responses.get("200")
                    if handler.opt.get(_OR_JSON) and isinstance(answered, OpenAPIResponse):
                        content = {**_json_alone(answered.content or {}), **content}
                    described = "JSON 或文件（format）" if handler.opt.get(_OR_JSON) else "文件"
                    operation.responses["200"] = OpenAPIResponse(description=described, content=content)


def _inputs() -> list[type[Input]]:
    found: list[type[Input]] = []
    pending: list[type[Input]] = [Input]
    while pending:
        for cls in pending.pop().__subclasses__():
            found.append(cls)
            pending.append(cls)
    return found


def document_inputs(app: Litestar) -> None:
    """Request bodies as msgspec itself describes them: Litestar's generator drops the
    constraints of list items and dict values (a photo URL's pattern), a bound of 0 on an
    optional number, and says nothing of refused unknown fields (``additionalProperties``)."""
    components = app.openapi_schema.components.schemas
    if components is None:
        return
    inputs = [cls for cls in _inputs() if cls.__name__ in components]
    _, definitions = msgspec.json.schema_components(inputs, ref_template="#/components/schemas/{name}")
    names = {cls.__name__ for cls in inputs}
    for name, definition in definitions.items():
        if name in names or name not in components:
            components[name] = definition  # type: ignore[assignment]  # plain JSON Schema


IDEMPOTENCY_KEY = Parameter(
    name="Idempotency-Key",
    param_in="header",
    required=False,
    description=(
        "可选。重试同一请求（例如网络中断后）时带上相同的键：已完成的请求原样重放其应答"
        "（应答头 Idempotent-Replayed: true），不会重复执行；同一键用于不同的请求体为 409 "
        "idempotency_key_reused，相同请求仍在处理为 409 idempotency_request_in_progress（见 Retry-After）。"
    ),
    schema=Schema(type=OpenAPIType.STRING, pattern=KEY_PATTERN.pattern, max_length=200),
)
REPLAYED = OpenAPIHeader(
    description="true：这是此前相同请求（相同 Idempotency-Key）的应答重放",
    schema=Schema(type=OpenAPIType.STRING, enum=["true"]),
)


def document_idempotency_key(app: Litestar) -> None:
    """The ``Idempotency-Key`` header on every operation whose method the middleware honours it
    on, and no other (inline, as Litestar writes the other parameters)."""
    for item in (app.openapi_schema.paths or {}).values():
        for method in ("get", "head", "options", "trace", "post", "put", "patch", "delete"):
            operation: Operation | None = getattr(item, method)
            if operation is None or not honours_key(method):
                continue
            operation.parameters = [*(operation.parameters or []), IDEMPOTENCY_KEY]
            for status, response in (operation.responses or {}).items():
                if status.startswith("2") and isinstance(response, OpenAPIResponse):
                    response.headers = {**(response.headers or {}), "Idempotent-Replayed": REPLAYED}
