"""Base Structs the API speaks, the bounds numbers get at the edge, and how a JSON request body
becomes its Struct.

Request bodies refuse unknown fields (no mass assignment) and are decoded strictly: a JSON
string is not an integer (``"samples": "1"``), a float is not an integer, and neither a string
nor 0/1 is a boolean. Litestar converts bodies leniently (it shares one conversion with query
parameters, which are strings by nature), so :class:`StrictBodyRequest` converts them strictly
first, once for every route. Query and path parameters keep their documented string parsing.

Every number that reaches the database is bounded at the edge to what its column holds, so an
out-of-range value is a 400 naming the field, never a driver overflow (a 500):
``INT32_MAX`` for ``Integer`` columns (counts, minutes, prices of service items), and for
``BigInteger`` fen amounts the owning domain's own ceiling, far below ``INT64_MAX``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar.exceptions import ValidationException
from litestar.types import Empty

from yixiang.bodies import GuardedRequest
from yixiang.field_errors import field_errors

INT32_MAX = 2**31 - 1  # PostgreSQL ``integer`` (SQLAlchemy ``Integer``)


# A moment a client sends: RFC 3339 with its offset (a naive time is refused by the domain's own
# rule, which says so in Chinese). msgspec documents a datetime as a bare string; this says more.
Moment = Annotated[datetime, msgspec.Meta(extra_json_schema={"format": "date-time"})]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body: unknown fields are a 400 naming the field, and values are not coerced."""


class Output(msgspec.Struct, kw_only=True):
    """A response body."""


# Litestar's OpenAPI generator leaves out a bound of 0 on an optional query parameter (it tests
# the bound's truth): ``Parameter(ge=0, ..., schema_extra=QUERY_MINIMUM_ZERO)`` restates it.
QUERY_MINIMUM_ZERO: dict[str, Any] = {"minimum": 0}


class StrictBodyRequest(GuardedRequest):
    """A request whose JSON body is converted strictly into the route's declared ``data`` type.

    The app's ``request_class``. The body is parsed as Litestar parses it (same errors for
    malformed JSON, and the body guard's for JSON msgspec refuses otherwise), then converted
    with ``strict=True`` (a refusal names every invalid field: :mod:`yixiang.field_errors`);
    Litestar's own lenient conversion afterwards receives the finished
    Struct and passes it through unchanged.
    """

    async def json(self) -> Any:
        if self._json is not Empty:
            return self._json
        value = await super().json()
        data_field = self.route_handler.parsed_data_field
        if data_field is None or value is None:
            return value
        try:
            converted = msgspec.convert(value, data_field.annotation, strict=True)
        except msgspec.ValidationError as exc:
            raise ValidationException(
                detail=f"Validation failed for {self.method} {self.url.path}",
                extra=[
                    {"message": error.reason, "key": error.path or None, "source": "body"}
                    for error in field_errors(value, data_field.annotation)
                ],
            ) from exc
        self._json = self._connection_state.json = converted
        return converted
