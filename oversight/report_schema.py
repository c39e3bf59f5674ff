"""The yearly public report (统计年报) as it is stored, answered and drawn: aggregate figures only.

A published report is this structure frozen as JSON (``oversight.report_models``): the page, the
PDF, the CSV tables and the API all read the same snapshot. Nothing here names a person or a firm
that books: units are the holding units (管理单位) that publish their instruments.
"""

from __future__ import annotations

from datetime import datetime

from yixiang.schemas import Output

# Value bands of the original value (原值), in fen: [low, high) and the label a reader sees.
VALUE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (0, 50_000_000, "50万元以下"),
    (50_000_000, 100_000_000, "50万–100万元"),
    (100_000_000, 200_000_000, "100万–200万元"),
    (200_000_000, 500_000_000, "200万–500万元"),
    (500_000_000, None, "500万元及以上"),
)
ORIGIN_LABELS = {"domestic": "国产", "imported": "进口"}


class Headline(Output):
    instruments: int  # listed (published) by the year's end
    units: int  # holding units with a listed instrument
    total_value_fen: int
    effective_hours: float
    external_hours: float
    internal_hours: float
    sharing_rate: float | None  # external / effective
    usage_rate: float | None  # the mean of the instruments' usage rates (effective / annual norm)
    orders: int  # bookings completed in the year
    external_orders: int
    external_income_fen: int
    voucher_granted_fen: int
    voucher_used_fen: int
    voucher_settled_fen: int
    rating_count: int
    rating_mean: float | None
    idle_instruments: int  # idle a month or more at the year's end


class ListingRow(Output):
    key: str
    label: str
    instruments: int
    value_fen: int


class MonthRow(Output):
    month: int
    effective_hours: float
    external_hours: float
    orders: int
    external_income_fen: int


class CategoryRow(Output):
    code: str
    name: str
    instruments: int
    value_fen: int
    effective_hours: float
    external_hours: float
    external_income_fen: int


class UnitRow(Output):
    rank: int
    name: str
    unit_type: str
    instruments: int
    effective_hours: float
    external_hours: float
    sharing_rate: float | None
    usage_rate: float | None  # the mean of its instruments' usage rates
    external_orders: int
    external_income_fen: int
    rating_mean: float | None


class AreaRow(Output):
    code: str
    name: str
    units: int
    instruments: int
    value_fen: int
    effective_hours: float
    external_hours: float
    external_income_fen: int


class ProgramRow(Output):
    name: str
    budget_fen: int
    granted_fen: int
    firms: int  # how many firms were granted (a count: no names)
    used_fen: int  # voucher shares captured at checkout
    settled_fen: int  # paid to providers by settlement batches (paid or reconciled)


class StarRow(Output):
    stars: int
    ratings: int


class IdleRow(Output):
    months: int  # 1, 3, 6: the step reached (seed 004 §动态监管)
    label: str
    instruments: int


class EvaluationRow(Output):
    rank: int
    name: str  # the holding unit
    score: float
    grade: str  # 优秀 / 良好 / 合格 / 较差


class RewardFigures(Output):
    """The year's sharing rewards (共享奖励) of approved, paid or reconciled batches."""

    units: int
    instruments: int
    sharing_fen: int  # 共享奖励: a share of the external service fees
    insurance_fen: int  # 共享保: the insurance subsidy
    total_fen: int


class YearlyReport(Output):
    region_code: str
    region_name: str
    year: int
    computed_at: datetime
    hours_source: str  # the indicators' source of the hours: "sensor", "bookings" or "mixed"
    headline: Headline
    by_category: list[CategoryRow]
    by_value_band: list[ListingRow]
    by_origin: list[ListingRow]
    by_unit_type: list[ListingRow]
    monthly: list[MonthRow]
    top_units: list[UnitRow]
    areas: list[AreaRow]
    programs: list[ProgramRow]
    ratings: list[StarRow]
    idle: list[IdleRow]
    # the region's published evaluation of the year; [] when none
    evaluation: list[EvaluationRow] = []
    rewards: RewardFigures | None = None  # None: no approved reward batch for the year
    published_at: datetime | None = None  # None: a draft
    publisher: str = ""  # the science bureau that published it


class PublishedReportOut(Output):
    region_code: str
    region_name: str
    year: int
    published_at: datetime
