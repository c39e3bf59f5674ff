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

from oversight.grades import Grade

# indicator → points at full marks (sums to 100): the table proposed in oversight/INDICATORS.md;
# ``YIXIANG_EVALUATION_WEIGHTS`` replaces it
DEFAULT_WEIGHTS: dict[str, float] = {
    "usage": 25,  # 运行使用: usage rate / 0.6
    "sharing": 20,  # 共享成效: sharing rate / 0.5
    "external_fee_income": 10,  # 共享成效: external fee income / the region's highest
    "external_users": 10,  # 共享成效: external users / the region's most
    "rating": 15,  # 服务质量: (mean rating − 1) / 4
    "listed_on_time": 5,  # 组织管理: share of instruments listed on time
    "sensor_on_time": 5,  # 组织管理: share with their sensor on time (no deadline yet: full)
    "service_info_complete": 5,  # 组织管理: share with complete service information
    "activity": 5,  # 运行使用: share of instruments not idle
}
# full marks are reached at these figures (a figure above counts as the target)
USAGE_TARGET = 0.6
SHARING_TARGET = 0.5
RATING_WITHOUT_RATINGS = 0.5  # a unit nobody rated: half marks (no evidence either way)


class UnitFiguresLike(Protocol):
    @property
    def unit_id(self) -> uuid.UUID: ...

    @property
    def unit_name(self) -> str: ...

    @property
    def instruments(self) -> int: ...

    @property
    def usage_rate(self) -> float: ...

    @property
    def sharing_rate(self) -> float | None: ...

    @property
    def external_users(self) -> int: ...

    @property
    def external_fee_income_fen(self) -> int: ...

    @property
    def rating_mean(self) -> float | None: ...

    @property
    def rating_count(self) -> int: ...

    @property
    def listed_on_time_share(self) -> float: ...

    @property
    def sensor_on_time_share(self) -> float | None: ...

    @property
    def service_info_complete_share(self) -> float: ...

    @property
    def idle_instruments(self) -> int: ...

    @property
    def complaints_upheld(self) -> int: ...


class InstrumentFiguresLike(Protocol):
    @property
    def instrument_id(self) -> uuid.UUID: ...

    @property
    def unit_id(self) -> uuid.UUID: ...

    @property
    def name(self) -> str: ...

    @property
    def category_code(self) -> str: ...

    @property
    def generic(self) -> bool: ...

    @property
    def usage_rate(self) -> float: ...


@dataclass(frozen=True)
class Rules:
    """What scores and grades are computed with; kept on the evaluation when it is opened."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    excellent_min: float = 85
    good_min: float = 70
    passed_min: float = 60
    excellent_max_percent: int = 15  # of the participating units, rounded down
    low_usage_rate: float = 0.30
    complaint_deduction: float = 2  # points off per upheld complaint
    complaint_deduction_cap: float = 10
    rectification_working_days: int = 60

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Rules:
        return cls(**values)


def _share(value: float, target: float) -> float:
    return max(0.0, min(value / target, 1.0)) if target > 0 else 0.0


@dataclass(frozen=True)
class RegionBest:
    """The region's highest external fee income and most external users (the relative indicators)."""

    external_fee_income_fen: int
    external_users: int

    @classmethod
    def of(cls, units: Iterable[UnitFiguresLike]) -> RegionBest:
        units = list(units)
        return cls(
            external_fee_income_fen=max((u.external_fee_income_fen for u in units), default=0),
            external_users=max((u.external_users for u in units), default=0),
        )


def _relative(value: float, best: float) -> float:
    return value / best if best > 0 else 0.0


def points(unit: UnitFiguresLike, rules: Rules, best: RegionBest) -> dict[str, float]:
    """Points per indicator (and the complaints' deduction, negative)."""
    w = rules.weights
    instruments = max(unit.instruments, 1)
    rating = (
        (unit.rating_mean - 1) / 4
        if unit.rating_count and unit.rating_mean is not None
        else RATING_WITHOUT_RATINGS
    )
    fractions = {
        "usage": _share(unit.usage_rate, USAGE_TARGET),
        "sharing": _share(unit.sharing_rate or 0.0, SHARING_TARGET),
        "external_fee_income": _relative(unit.external_fee_income_fen, best.external_fee_income_fen),
        "external_users": _relative(unit.external_users, best.external_users),
        "rating": max(0.0, min(rating, 1.0)),
        "listed_on_time": unit.listed_on_time_share,
        "sensor_on_time": 1.0 if unit.sensor_on_time_share is None else unit.sensor_on_time_share,
        "service_info_complete": unit.service_info_complete_share,
        "activity": max(0.0, 1 - unit.idle_instruments / instruments),
    }
    parts = {name: round(w.get(name, 0) * fraction, 2) for name, fraction in fractions.items()}
    parts["complaints"] = -min(
        unit.complaints_upheld * rules.complaint_deduction, rules.complaint_deduction_cap
    )
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
