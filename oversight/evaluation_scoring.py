"""The evaluation's arithmetic (documented in ``oversight/EVALUATION.md``): points per indicator
from a unit's figures, grades with the 15% cap on 优秀, and the 30% flag on generic instruments.

Pure functions over the indicators' figures; the workflow that stores them is
``oversight.evaluation_runs``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from oversight.evaluation_models import Grade

# indicator → points at full marks (sums to 100); ``YIXIANG_EVALUATION_WEIGHTS`` replaces it
DEFAULT_WEIGHTS: dict[str, float] = {
    "usage": 25,  # usage rate (effective hours / annual norm)
    "sharing": 20,  # sharing rate (external hours / effective hours)
    "external_service": 10,  # external orders per instrument
    "rating": 15,  # mean rating of the services
    "compliance": 20,  # listed on time, sensor on time, service information complete
    "activity": 10,  # instruments not idle
}
# full marks are reached at these figures (a figure above counts as the target)
USAGE_TARGET = 0.6
SHARING_TARGET = 0.3
ORDERS_PER_INSTRUMENT_TARGET = 12
RATING_WITHOUT_RATINGS = 3.0  # a unit nobody rated counts as a 3-star mean


class UnitFiguresLike(Protocol):
    unit_id: uuid.UUID
    unit_name: str
    instruments: int
    usage_rate: float
    sharing_rate: float | None
    external_orders: int
    rating_mean: float | None
    rating_count: int
    listed_on_time_share: float
    sensor_on_time_share: float | None
    service_info_complete_share: float
    idle_instruments: int


class InstrumentFiguresLike(Protocol):
    instrument_id: uuid.UUID
    unit_id: uuid.UUID
    name: str
    category_code: str
    generic: bool
    usage_rate: float


@dataclass(frozen=True)
class Rules:
    """What scores and grades are computed with; kept on the evaluation when it is opened."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    excellent_min: float = 85
    good_min: float = 70
    passed_min: float = 60
    excellent_max_percent: int = 15  # of the participating units, rounded down
    low_usage_rate: float = 0.30
    complaint_deduction: float = 5  # points off per upheld complaint
    complaint_deduction_cap: float = 20
    rectification_working_days: int = 60

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Rules:
        return cls(**values)


def _share(value: float, target: float) -> float:
    return max(0.0, min(value / target, 1.0)) if target > 0 else 0.0


def points(unit: UnitFiguresLike, rules: Rules) -> dict[str, float]:
    """Points per indicator (and the complaints' deduction, negative)."""
    w = rules.weights
    instruments = max(unit.instruments, 1)
    rating = (
        unit.rating_mean if unit.rating_count and unit.rating_mean is not None else RATING_WITHOUT_RATINGS
    )
    compliance = [unit.listed_on_time_share, unit.service_info_complete_share]
    if unit.sensor_on_time_share is not None:
        compliance.append(unit.sensor_on_time_share)
    fractions = {
        "usage": _share(unit.usage_rate, USAGE_TARGET),
        "sharing": _share(unit.sharing_rate or 0.0, SHARING_TARGET),
        "external_service": _share(unit.external_orders / instruments, ORDERS_PER_INSTRUMENT_TARGET),
        "rating": _share(rating, 5.0),
        "compliance": sum(compliance) / len(compliance),
        "activity": max(0.0, 1 - unit.idle_instruments / instruments),
    }
    parts = {name: round(w.get(name, 0) * fraction, 2) for name, fraction in fractions.items()}
    upheld = int(getattr(unit, "complaints_upheld", 0) or 0)
    parts["complaints"] = -min(upheld * rules.complaint_deduction, rules.complaint_deduction_cap)
    return parts


def score_of(parts: dict[str, float]) -> float:
    return round(max(0.0, sum(parts.values())), 2)


@dataclass(frozen=True)
class Ranked:
    unit_id: uuid.UUID
    unit_name: str
    score: float  # the final score (adjusted where an adjustment was approved)
    sharing_rate: float
    usage_rate: float


def excellent_quota(participants: int, rules: Rules) -> int:
    """At most 15% of the participating units are 优秀, rounded down (20 → 3, 7 → 1, 6 → 0)."""
    return participants * rules.excellent_max_percent // 100


def tie_order(unit: Ranked) -> tuple[float, float, float, str, str]:
    """Higher score first; on equal scores the higher sharing rate, then the higher usage rate,
    then the unit's name (code point order) and id: the same order every time."""
    return (-unit.score, -unit.sharing_rate, -unit.usage_rate, unit.unit_name, str(unit.unit_id))


def assign_grades(units: Iterable[Ranked], rules: Rules) -> list[tuple[Ranked, Grade, int]]:
    """(unit, grade, rank) best first. A unit at or above the 优秀 threshold beyond the quota is 良好."""
    ordered = sorted(units, key=tie_order)
    quota = excellent_quota(len(ordered), rules)
    graded: list[tuple[Ranked, Grade, int]] = []
    excellent = 0
    for rank, unit in enumerate(ordered, start=1):
        if unit.score >= rules.excellent_min and excellent < quota:
            grade, excellent = Grade.excellent, excellent + 1
        elif unit.score >= rules.good_min:
            grade = Grade.good
        elif unit.score >= rules.passed_min:
            grade = Grade.passed
        else:
            grade = Grade.poor
        graded.append((unit, grade, rank))
    return graded


def low_usage(instruments: Sequence[InstrumentFiguresLike], rules: Rules) -> list[InstrumentFiguresLike]:
    """Generic (通用性强) instruments used below the threshold (使用率低于30%)."""
    return [i for i in instruments if i.generic and i.usage_rate < rules.low_usage_rate]
