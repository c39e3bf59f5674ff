"""Bodies of the personal-data routes."""

from __future__ import annotations

from datetime import datetime

from yixiang.schemas import Input, Output


class ErasureIn(Input):
    confirm: bool  # must be true: erasure cannot be undone


class KeptOut(Output):
    what: str
    count: int
    why: str


class DeletedOut(Output):
    what: str
    count: int


class ErasureOut(Output):
    kept: list[KeptOut]
    deleted: list[DeletedOut]
    note: str


class ConsentIn(Input):
    given: bool


class ConsentChange(Output):
    given: bool
    at: datetime
    source: str


class ConsentOut(Output):
    given: bool
    answered_at: datetime | None  # None: never answered (notifications about own bookings are sent)
    history: list[ConsentChange]
