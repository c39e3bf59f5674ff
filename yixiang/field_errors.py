"""Every invalid field of a request body in one answer, each with a stable code and a message.

msgspec stops at the first error it meets, so a phone client would fix a form one field per round
trip. When the strict conversion of a body fails, :func:`field_errors` walks the body against the
route's declared type instead — each Struct field, list item and dict value converted on its own,
with the same constraints — and reports every one that fails (missing and unknown fields
included). :func:`describe` turns msgspec's English into a stable code and a Chinese message; the
shell's error handler uses it for query and path parameters too.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Any

import msgspec


@dataclass(frozen=True)
class FieldError:
    path: str  # ``service_items[0].mode``; "" for the body itself
    reason: str  # msgspec's own words


_AT = re.compile(r" - at `\$(.*)`$")
_NAMED = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


def field_errors(value: Any, annotation: Any) -> list[FieldError]:
    """The body's invalid fields; never empty when ``msgspec.convert(value, annotation,
    strict=True)`` fails (what the walk cannot split stays one error, msgspec's)."""
    found = _walk(value, annotation, "")
    if not found:
        try:
            msgspec.convert(value, annotation, strict=True)
        except msgspec.ValidationError as exc:
            found = [_from_msgspec(exc, "")]
    return found


def _join(path: str, suffix: str) -> str:
    if not suffix:
        return path
    if suffix.startswith("["):
        return path + suffix
    return f"{path}.{suffix.lstrip('.')}" if path else suffix.lstrip(".")


def _from_msgspec(exc: msgspec.ValidationError, path: str) -> FieldError:
    message = str(exc)
    at = _AT.search(message)
    reason = message[: at.start()] if at else message
    path = _join(path, at.group(1)) if at else path
    named = _NAMED.search(reason)  # msgspec reports these against the object that holds them
    return FieldError(_join(path, named.group(1)) if named else path, reason)


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _walk(value: Any, annotation: Any, path: str) -> list[FieldError]:
    try:
        msgspec.convert(value, annotation, strict=True)
    except msgspec.ValidationError as exc:
        return _split(value, _unwrap(annotation), path) or [_from_msgspec(exc, path)]
    return []


def _split(value: Any, annotation: Any, path: str) -> list[FieldError]:
    """The errors inside a container or Struct, one per failing member; [] when it cannot split."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        # ``X | None`` with a value: the errors are X's (other unions stay whole)
        return _split(value, _unwrap(members[0]), path) if len(members) == 1 and value is not None else []
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return _struct_errors(value, annotation, path) if isinstance(value, dict) else []
    if origin in (list, set, frozenset) and isinstance(value, list):
        (item,) = typing.get_args(annotation) or (Any,)
        # (only a bound on the list itself failing: [], and msgspec's one error stands)
        return [e for i, v in enumerate(value) for e in _walk(v, item, f"{path}[{i}]")]
    if origin is dict and isinstance(value, dict):
        _, item = typing.get_args(annotation) or (Any, Any)
        return [e for k, v in value.items() for e in _walk(v, item, _join(path, str(k)))]
    return []


def _struct_errors(value: dict[str, Any], struct: type[msgspec.Struct], path: str) -> list[FieldError]:
    found: list[FieldError] = []
    known = set()
    for field in msgspec.structs.fields(struct):
        known.add(field.encode_name)
        if field.encode_name in value:
            found.extend(_walk(value[field.encode_name], field.type, _join(path, field.encode_name)))
        elif field.required:
            found.append(
                FieldError(
                    _join(path, field.encode_name), f"Object missing required field `{field.encode_name}`"
                )
            )
    if struct.__struct_config__.forbid_unknown_fields:
        found.extend(
            FieldError(_join(path, str(name)), f"Object contains unknown field `{name}`")
            for name in value
            if name not in known
        )
    return found


# msgspec's wording -> (stable code, Chinese message); the first that matches names the error.
_DESCRIPTIONS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern), code, message)
    for pattern, code, message in (
        (r"missing required field", "missing", "缺少必填项"),
        (r"unknown field", "unknown_field", "不接受该字段"),
        (r"^Expected `\w+`, got `null`", "null_not_allowed", "不能为空值"),
        (r"^Expected `[^`]+`, got `", "wrong_type", "类型有误，应为{expected}"),
        (r"^Expected `\w+` >= (?P<n>\S+)$", "too_small", "不能小于 {n}"),
        (r"^Expected `\w+` > (?P<n>\S+)$", "too_small", "应大于 {n}"),
        (r"^Expected `\w+` <= (?P<n>\S+)$", "too_large", "不能大于 {n}"),
        (r"^Expected `\w+` < (?P<n>\S+)$", "too_large", "应小于 {n}"),
        (r"^Expected `\w+` that's a multiple of (?P<n>\S+)$", "not_a_multiple", "应为 {n} 的整数倍"),
        (r"^Expected `(?:str|bytes)` of length >= (?P<n>\d+)$", "too_short", "长度不能少于 {n}"),
        (r"^Expected `(?:str|bytes)` of length <= (?P<n>\d+)$", "too_long", "长度不能超过 {n}"),
        (r"^Expected `\w+` of length >= (?P<n>\d+)$", "too_few", "至少需要 {n} 项"),
        (r"^Expected `\w+` of length <= (?P<n>\d+)$", "too_many", "最多 {n} 项"),
        (r"matching regex", "pattern_mismatch", "格式不符合要求"),
        (r"^Invalid enum value", "invalid_choice", "不是可选的值"),
        (
            r"^Invalid RFC3339 encoded (?:datetime|date|time)",
            "invalid_format",
            "日期时间格式有误（RFC 3339）",
        ),
        (r"^Invalid (?:ISO 8601 )?(?:date|time|datetime|duration)", "invalid_format", "日期时间格式有误"),
        (r"^Invalid UUID", "invalid_format", "不是合法的 UUID"),
        (r"timezone", "invalid_format", "时间需带时区"),
    )
)

_TYPE_WORDS = {
    "int": "整数",
    "float": "数字",
    "str": "字符串",
    "bool": "布尔值（true/false）",
    "object": "对象",
    "array": "数组",
    "null": "null",
}


def describe(reason: str) -> tuple[str, str]:
    """A stable code and a Chinese message for one of msgspec's (or Litestar's) reasons."""
    for pattern, code, message in _DESCRIPTIONS:
        match = pattern.search(reason)
        if match:
            expected = re.match(r"^Expected `([^`]+)`", reason)
            words = "或".join(
                _TYPE_WORDS.get(t.strip(), t.strip())
                for t in (expected.group(1) if expected else "").split("|")
            )
            return code, message.format(expected=words, **match.groupdict())
    return "invalid", "取值有误"
