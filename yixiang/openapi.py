"""Make the published OpenAPI document tell the truth about errors: every operation may answer
with our one error body, ``{"error": {"code", "message", "details"}}``, not Litestar's default."""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType

ERROR_STATUSES = {
    "400": "输入有误（validation_error 等，details.fields 指明字段）",
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
