"""How every JSON answer is encoded: one time convention for every field of every route.

msgspec writes a datetime natively, with the offset it carries (``Z`` for what the database
returns, ``+08:00`` for calendar arithmetic) and its microseconds, and calls no hook for it; so
the app's response class converts the answer to builtins with datetimes left as they are, shows
each as :func:`yixiang.clock.public_moment` does (Asia/Shanghai, whole seconds), then encodes.
The app uses :class:`Answer` for every route (``response_class``) and for every error body, so no
route can answer another way. Inputs still accept any offset.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from litestar import Response
from litestar.response.base import MEDIA_TYPE_APPLICATION_JSON_PATTERN
from litestar.serialization import default_serializer
from litestar.types import Serializer

from yixiang.clock import public_moment

T = TypeVar("T")


def with_public_times(content: Any, enc_hook: Serializer = default_serializer) -> Any:
    """``content`` as builtins (dicts, lists, strings, numbers) with every datetime shown publicly."""
    tree = msgspec.to_builtins(content, builtin_types=(datetime,), enc_hook=enc_hook)
    if type(tree) is dict:
        _public_dict(tree)
    elif type(tree) is list:
        _public_list(tree)
    elif isinstance(tree, datetime):
        return public_moment(tree)
    return tree


# In place: ``to_builtins`` built every dict and list afresh. Loops rather than recursion per
# value: a page of bookings has thousands of values and a few hundred moments.
def _public_dict(tree: dict[Any, Any]) -> None:
    for key, value in tree.items():
        kind = type(value)
        if kind is dict:
            _public_dict(value)
        elif kind is list:
            _public_list(value)
        elif kind is datetime:
            tree[key] = public_moment(value)


def _public_list(tree: list[Any]) -> None:
    for index, value in enumerate(tree):
        kind = type(value)
        if kind is dict:
            _public_dict(value)
        elif kind is list:
            _public_list(value)
        elif kind is datetime:
            tree[index] = public_moment(value)


# Text of a moment that breaks the convention: a fraction of a second, or an offset other than
# +08:00, closing a JSON string. An answer without any is already right as msgspec wrote it.
_NOT_PUBLIC = re.compile(rb'\d\d:\d\d:\d\d(?:\.\d|Z"|[+-](?!08:00")\d\d:\d\d")')


class Answer(Response[T]):
    """The app's response: JSON bodies follow the time convention, anything else is untouched."""

    def render(self, content: Any, media_type: str, enc_hook: Serializer = default_serializer) -> bytes:
        body = super().render(content, media_type, enc_hook)
        if (
            isinstance(content, (bytes, str))
            or not MEDIA_TYPE_APPLICATION_JSON_PATTERN.match(media_type)
            or _NOT_PUBLIC.search(body) is None
        ):
            return body
        # Converting moments costs a walk over the whole answer: only when some need it (most
        # answers without moments, and availability's calendar moments, do not).
        return super().render(with_public_times(content, enc_hook), media_type, enc_hook)
