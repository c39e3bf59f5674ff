"""The yearly report's figures (统计年报, seed 004 and issue 22), computed from the records of one
region and calendar year (Asia/Shanghai): stated queries over the catalogue, bookings, ratings,
vouchers and oversight's idle cases; nothing typed twice.

How each figure is reckoned (the page and the PDF repeat the short form):

- *Listed instruments*: published instruments of the region whose listing (``published_at``) is
  before the year's end, counted by category (the instrument's own, second-level class), value
  band (``VALUE_BANDS``), origin and unit type.
- *Hours and usage rates*: the indicators' (``oversight.indicators``, formulas in
  ``INDICATORS.md``): from the daily usage roll-up where an instrument has sensor sessions, else
  from completed bookings' recorded use, the part inside the year (and inside each month for the
  trend). External hours are those of bookings at the external rate (for other units and firms).
  The region's and a unit's usage rate is the mean of their instruments' usage rates.
- *Orders and income*: bookings completed in the year (the moment they were completed); external
  income is the final fee of those at the external rate.
- *Vouchers*: the region's programmes of that year: granted (grants), used (voucher shares
  captured at checkout, net of refunds) and settled (included in paid or reconciled batches).
- *Ratings*: visible ratings of the region's instruments made in the year.
- *Idle*: instruments whose idle case (``oversight.idle``) was open at the year's end (or now, for
  the current year), by the step reached then (1, 3, 6 months).
- *Evaluation*: the region's published performance evaluation of the year (``oversight.evaluation``):
  each unit's rank, score and grade; none before it is published.
- *Rewards*: the region's sharing rewards and insurance subsidies of the year in approved, paid
  or reconciled batches (``oversight.rewards.reward_totals``); none before a batch is approved.
- *Unit type*: read from the holding unit's name (大学/学院 → 高等院校; 研究院/研究所/科学院 →
  科研院所; 医院 → 医疗卫生机构; 检测/测试 → 检测机构; 公司 → 企业; else 其他).
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Organization, Region
from catalogue.models import Category
from oversight.evaluation import published_results
from oversight.report_queries import (
    TOP_UNITS,
    Use,
    child_area,
    hours,
    idle_at_year_end,
    listed_instruments,
    mean_of,
    names_of,
    programmes_of_year,
    rate,
    ratings_of_year,
    unit_type_of,
    value_band_of,
    year_bounds,
    year_usage,
)
from oversight.report_schema import (
    ORIGIN_LABELS,
    VALUE_BANDS,
    AreaRow,
    CategoryRow,
    EvaluationRow,
    Headline,
    ListingRow,
    MonthRow,
    RewardFigures,
    UnitRow,
    YearlyReport,
)
from oversight.rewards import reward_totals
from vouchers.rules import region_prefix
from yixiang.db import utcnow


async def compute_report(session: AsyncSession, region_code: str, year: int) -> YearlyReport:
    """The report of ``region_code`` (a province, city or district) for the calendar ``year``."""
    prefix = region_prefix(region_code)
    _, end = year_bounds(year)
    listed = await listed_instruments(session, prefix, end)
    usage = await year_usage(session, prefix, {i.region_code for i in listed}, year)
    listed_ids = {i.id for i in listed}
    per_month: dict[int, Use] = defaultdict(Use)
    for month, uses in usage.per_month_instrument.items():
        for instrument_id, use in uses.items():
            if instrument_id in listed_ids:
                per_month[month].add(use)
    rates = [usage.usage_rates.get(i.id, 0.0) for i in listed]
    stars, unit_ratings = await ratings_of_year(session, prefix, year)
    programs = await programmes_of_year(session, prefix, year)
    idle = await idle_at_year_end(session, {i.id for i in listed}, year)

    unit_names = await names_of(session, Organization, {i.unit_id for i in listed})
    region = await session.get(Region, region_code)
    area_codes = {child_area(region_code, i.region_code) for i in listed}
    area_names = await names_of(session, Region, set(area_codes))
    categories = dict((await session.execute(select(Category.code, Category.name))).all())

    per_unit: dict[uuid.UUID, Use] = defaultdict(Use)
    per_area: dict[str, Use] = defaultdict(Use)
    per_category: dict[str, Use] = defaultdict(Use)
    total = Use()
    for instrument in listed:
        use = usage.per_instrument.get(instrument.id, Use())
        per_unit[instrument.unit_id].add(use)
        per_area[child_area(region_code, instrument.region_code)].add(use)
        per_category[instrument.category_code].add(use)
        total.add(use)

    def listing(key_of: object) -> dict[str, tuple[int, int]]:
        counted: dict[str, tuple[int, int]] = {}
        for instrument in listed:
            key = key_of(instrument)  # type: ignore[operator]
            n, value = counted.get(key, (0, 0))
            counted[key] = (n + 1, value + instrument.value_fen)
        return counted

    bands = listing(lambda i: value_band_of(i.value_fen))
    origins = listing(lambda i: i.origin)
    types = listing(lambda i: unit_type_of(unit_names.get(i.unit_id, "")))
    by_category = listing(lambda i: i.category_code)
    instruments_of_unit = Counter(i.unit_id for i in listed)
    units_of_area = {
        area: len({i.unit_id for i in listed if child_area(region_code, i.region_code) == area})
        for area in area_codes
    }

    unit_rows = sorted(
        per_unit.items(),
        key=lambda kv: (-kv[1].external_s, -kv[1].effective_s, str(unit_names.get(kv[0], ""))),
    )[:TOP_UNITS]
    rated = sum(c for c, _ in unit_ratings.values())
    rated_total = sum(t for _, t in unit_ratings.values())
    rewards = await reward_totals(session, region_code=region_code, year=year)
    return YearlyReport(
        region_code=region_code,
        region_name=region.name if region else region_code,
        year=year,
        computed_at=utcnow(),
        hours_source=usage.sources.pop()
        if len(usage.sources) == 1
        else ("mixed" if usage.sources else "bookings"),
        headline=Headline(
            instruments=len(listed),
            units=len(instruments_of_unit),
            total_value_fen=sum(i.value_fen for i in listed),
            effective_hours=hours(total.effective_s),
            external_hours=hours(total.external_s),
            internal_hours=hours(total.effective_s - total.external_s),
            sharing_rate=rate(total.external_s, total.effective_s),
            usage_rate=mean_of(rates),
            orders=total.orders,
            external_orders=total.external_orders,
            external_income_fen=total.external_income_fen,
            voucher_granted_fen=sum(p.granted_fen for p in programs),
            voucher_used_fen=sum(p.used_fen for p in programs),
            voucher_settled_fen=sum(p.settled_fen for p in programs),
            rating_count=rated,
            rating_mean=round(rated_total / rated, 2) if rated else None,
            idle_instruments=sum(r.instruments for r in idle),
        ),
        by_category=sorted(
            (
                CategoryRow(
                    code=code,
                    name=str(categories.get(code, code)),
                    instruments=n,
                    value_fen=value,
                    effective_hours=hours(per_category[code].effective_s),
                    external_hours=hours(per_category[code].external_s),
                    external_income_fen=per_category[code].external_income_fen,
                )
                for code, (n, value) in by_category.items()
            ),
            key=lambda r: (-r.instruments, r.code),
        ),
        by_value_band=[
            ListingRow(
                key=label,
                label=label,
                instruments=bands.get(label, (0, 0))[0],
                value_fen=bands.get(label, (0, 0))[1],
            )
            for _, _, label in VALUE_BANDS
        ],
        by_origin=[
            ListingRow(
                key=key,
                label=label,
                instruments=origins.get(key, (0, 0))[0],
                value_fen=origins.get(key, (0, 0))[1],
            )
            for key, label in ORIGIN_LABELS.items()
        ],
        by_unit_type=[
            ListingRow(key=label, label=label, instruments=n, value_fen=value)
            for label, (n, value) in sorted(types.items(), key=lambda kv: (-kv[1][0], kv[0]))
        ],
        monthly=[
            MonthRow(
                month=m,
                effective_hours=hours(per_month[m].effective_s),
                external_hours=hours(per_month[m].external_s),
                orders=per_month[m].orders,
                external_income_fen=per_month[m].external_income_fen,
            )
            for m in range(1, 13)
        ],
        top_units=[
            UnitRow(
                rank=rank,
                name=str(unit_names.get(unit_id, "")),
                unit_type=unit_type_of(str(unit_names.get(unit_id, ""))),
                instruments=instruments_of_unit[unit_id],
                effective_hours=hours(use.effective_s),
                external_hours=hours(use.external_s),
                sharing_rate=rate(use.external_s, use.effective_s),
                usage_rate=mean_of(
                    [usage.usage_rates.get(i.id, 0.0) for i in listed if i.unit_id == unit_id]
                ),
                external_orders=use.external_orders,
                external_income_fen=use.external_income_fen,
                rating_mean=(
                    round(unit_ratings[unit_id][1] / unit_ratings[unit_id][0], 2)
                    if unit_id in unit_ratings
                    else None
                ),
            )
            for rank, (unit_id, use) in enumerate(unit_rows, start=1)
        ],
        areas=sorted(
            (
                AreaRow(
                    code=code,
                    name=str(area_names.get(code, code)),
                    units=units_of_area[code],
                    instruments=sum(1 for i in listed if child_area(region_code, i.region_code) == code),
                    value_fen=sum(
                        i.value_fen for i in listed if child_area(region_code, i.region_code) == code
                    ),
                    effective_hours=hours(per_area[code].effective_s),
                    external_hours=hours(per_area[code].external_s),
                    external_income_fen=per_area[code].external_income_fen,
                )
                for code in area_codes
            ),
            key=lambda r: r.code,
        ),
        programs=programs,
        ratings=stars,
        idle=idle,
        evaluation=[
            EvaluationRow(rank=e.rank, name=e.unit_name, score=round(e.score, 2), grade=str(e.grade.value))
            for e in await published_results(session, region_code=region_code, year=year)
        ],
        rewards=RewardFigures(
            units=rewards.units,
            instruments=rewards.instruments,
            sharing_fen=rewards.sharing_fen,
            insurance_fen=rewards.insurance_fen,
            total_fen=rewards.total_fen,
        )
        if rewards.batches
        else None,
    )
