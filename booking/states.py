"""The booking state machine as a table: which action moves a booking from where to where, and who
may take it. ``services.py`` has one function per action; nothing else changes a status."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from booking.models import BookingStatus as S


class Actor(enum.StrEnum):
    booker = "booker"  # a researcher or admin of the booking's firm
    provider = "provider"  # provider staff or unit admin of the instrument's unit
    system = "system"  # the worker (deadlines)


@dataclass(frozen=True)
class Transition:
    sources: frozenset[S | None]  # None: the booking does not exist yet
    target: S
    actors: frozenset[Actor]


def _t(sources: Iterable[S | None], target: S, *actors: Actor) -> Transition:
    return Transition(frozenset(sources), target, frozenset(actors))


TRANSITIONS: dict[str, Transition] = {
    # creation: "request" when the instrument needs approval, else "book"
    "request": _t([None], S.requested, Actor.booker),
    "book": _t([None], S.confirmed, Actor.booker),
    "approve": _t([S.requested], S.confirmed, Actor.provider),
    "reject": _t([S.requested], S.rejected, Actor.provider),
    "expire": _t([S.requested], S.expired, Actor.system),
    "cancel": _t([S.requested, S.confirmed], S.cancelled, Actor.booker, Actor.provider),
    "check_in": _t([S.confirmed], S.in_service, Actor.provider),
    "no_show": _t([S.confirmed], S.no_show, Actor.provider),
    "complete": _t([S.in_service], S.completed, Actor.provider),
    "deliver": _t([S.completed], S.delivered, Actor.provider),
    "rate": _t([S.delivered], S.rated, Actor.booker),
}


def replay(steps: Iterable[tuple[S | None, S]]) -> S | None:
    """The status a history leads to; raises ValueError when a step does not follow the last."""
    current: S | None = None
    for from_status, to_status in steps:
        if from_status != current:
            raise ValueError(f"history jumps from {current} but the step starts at {from_status}")
        if not any(t.target == to_status and from_status in t.sources for t in TRANSITIONS.values()):
            raise ValueError(f"no transition {from_status} → {to_status}")
        current = to_status
    return current
