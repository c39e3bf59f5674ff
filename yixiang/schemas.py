"""Base Structs the API speaks. Request bodies refuse unknown fields (no mass assignment)."""

from __future__ import annotations

import msgspec


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body: unknown fields are a 400 naming the field."""


class Output(msgspec.Struct, kw_only=True):
    """A response body."""
