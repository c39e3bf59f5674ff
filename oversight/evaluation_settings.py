"""Settings of the yearly evaluation (weights, grade thresholds, the 15% and 30% rules, the
rectification deadline) and of complaint handling (its deadline). See ``oversight/EVALUATION.md``."""

from __future__ import annotations

from typing import Annotated

import msgspec

from oversight.evaluation_scoring import DEFAULT_WEIGHTS, Rules
from yixiang.settings import Section, Settings, env_name

Score = Annotated[float, msgspec.Meta(ge=0, le=100)]


class EvaluationSettings(Section):
    env_prefix = "EVALUATION_"

    # indicator → points at full marks; must name only known indicators and sum to 100 (JSON)
    weights: dict[str, float] = msgspec.field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    excellent_min_score: Score = 85  # 优秀 at or above (within the 15% cap)
    good_min_score: Score = 70  # 良好
    passed_min_score: Score = 60  # 合格; below: 较差
    excellent_max_percent: Annotated[int, msgspec.Meta(ge=0, le=100)] = 15  # 不超过参加评价单位数的15%
    low_usage_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] = 30  # generic instruments below: flagged
    complaint_deduction: Annotated[float, msgspec.Meta(ge=0, le=100)] = 2  # points per upheld complaint
    complaint_deduction_cap: Annotated[float, msgspec.Meta(ge=0, le=100)] = 10
    rectification_working_days: Annotated[int, msgspec.Meta(ge=1, le=750)] = 60  # 限期整改

    def problems(self, settings: Settings) -> list[str]:
        found = []
        unknown = set(self.weights) - set(DEFAULT_WEIGHTS)
        if (
            unknown
            or any(w < 0 for w in self.weights.values())
            or round(sum(self.weights.values()), 6) != 100
        ):
            found.append(
                f"{env_name('evaluation_weights')} must give non-negative points to "
                f"{', '.join(DEFAULT_WEIGHTS)} summing to 100"
            )
        if not self.excellent_min_score >= self.good_min_score >= self.passed_min_score:
            found.append(
                f"{env_name('evaluation_excellent_min_score')} ≥ {env_name('evaluation_good_min_score')}"
                f" ≥ {env_name('evaluation_passed_min_score')} is required"
            )
        return found

    def rules(self) -> Rules:
        return Rules(
            weights=dict(self.weights),
            excellent_min=self.excellent_min_score,
            good_min=self.good_min_score,
            passed_min=self.passed_min_score,
            excellent_max_percent=self.excellent_max_percent,
            low_usage_rate=self.low_usage_percent / 100,
            complaint_deduction=self.complaint_deduction,
            complaint_deduction_cap=self.complaint_deduction_cap,
            rectification_working_days=self.rectification_working_days,
        )


class ComplaintSettings(Section):
    env_prefix = "COMPLAINTS_"

    # the bureau decides a complaint within this many working days of its filing
    handling_working_days: Annotated[int, msgspec.Meta(ge=1, le=250)] = 15
