"""The evaluation's workflow: the science bureau opens a region's year (draft), adjusts scores
(proposed by one officer, decided by another: four eyes), submits (审定) and publishes; published,
nothing changes any more. Grades are assigned again after every change of a score, so the 15% cap
on 优秀 holds after adjustments too. Publication lists the units graded 较差 for rectification
(限期整改, a deadline in working days) and opens the 30% flags of generic instruments.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from catalogue.workdays import load_working_day_calendar
from oversight.access import bureau_regions, science_regions
from oversight.evaluation_errors import (
    AdjustmentPending,
    EvaluationExists,
    EvaluationFrozen,
    EvaluationNotFound,
    InvalidEvaluationTransition,
    InvalidYear,
    NoParticipants,
    ObjectionPending,
    ScienceBureauRequired,
)
from oversight.evaluation_models import (
    AdjustmentStatus,
    Evaluation,
    EvaluationResult,
    EvaluationStatus,
    Grade,
    Objection,
    Rectification,
    ScoreAdjustment,
    UsageFlag,
)
from oversight.evaluation_scoring import (
    InstrumentFiguresLike,
    Ranked,
    RegionBest,
    Rules,
    UnitFiguresLike,
    assign_grades,
    low_usage,
    points,
    score_of,
)
from yixiang.clock import shanghai_today
from yixiang.db import transaction, utcnow
from yixiang.locking import locked

# action → (from, to)
TRANSITIONS: dict[str, tuple[EvaluationStatus, EvaluationStatus]] = {
    "submit": (EvaluationStatus.draft, EvaluationStatus.under_review),
    "reopen": (EvaluationStatus.under_review, EvaluationStatus.draft),
    "publish": (EvaluationStatus.under_review, EvaluationStatus.published),
}
STATUS_LABELS = {
    EvaluationStatus.draft: "草稿",
    EvaluationStatus.under_review: "审定中",
    EvaluationStatus.published: "已公布",
}
FIGURE_FIELDS = (
    "instruments",
    "hours_source",
    "effective_hours",
    "external_hours",
    "internal_hours",
    "usage_rate",
    "sharing_rate",
    "external_users",
    "external_orders",
    "external_fee_income_fen",
    "voucher_share_fen",
    "rating_mean",
    "rating_count",
    "listed_on_time_share",
    "sensor_on_time_share",
    "service_info_complete_share",
    "idle_instruments",
    "complaints_upheld",
)


def snapshot(unit: UnitFiguresLike) -> dict[str, object]:
    return {name: getattr(unit, name) for name in FIGURE_FIELDS if hasattr(unit, name)}


async def store_evaluation(
    session: AsyncSession,
    *,
    region_code: str,
    year: int,
    opened_by: uuid.UUID,
    rules: Rules,
    units: Sequence[UnitFiguresLike],
    instruments: Sequence[InstrumentFiguresLike],
) -> Evaluation:
    """A draft evaluation from the figures: each unit's points, score and grade, and the flags."""
    evaluation = Evaluation(
        region_code=region_code,
        year=year,
        status=EvaluationStatus.draft,
        rules=rules.as_dict(),
        opened_by=opened_by,
        opened_at=utcnow(),
    )
    session.add(evaluation)
    await session.flush()
    best = RegionBest.of(units)
    for unit in units:
        parts = points(unit, rules, best)
        session.add(
            EvaluationResult(
                evaluation_id=evaluation.id,
                unit_id=unit.unit_id,
                unit_name=unit.unit_name,
                figures=snapshot(unit),
                parts=parts,
                score=score_of(parts),
                grade=Grade.poor,
                rank=0,
            )
        )
    for flagged in low_usage(instruments, rules):
        session.add(
            UsageFlag(
                evaluation_id=evaluation.id,
                instrument_id=flagged.instrument_id,
                instrument_name=flagged.name,
                unit_id=flagged.unit_id,
                category_code=flagged.category_code,
                year=year,
                usage_rate=flagged.usage_rate,
            )
        )
    await session.flush()
    await regrade(session, evaluation)
    return evaluation


async def results_of(session: AsyncSession, evaluation_id: uuid.UUID) -> list[EvaluationResult]:
    rows = await session.scalars(
        select(EvaluationResult)
        .where(EvaluationResult.evaluation_id == evaluation_id)
        .order_by(EvaluationResult.rank, EvaluationResult.unit_name)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def result_counts(session: AsyncSession, evaluation_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many units take part in each evaluation."""
    rows = await session.execute(
        select(EvaluationResult.evaluation_id, func.count())
        .where(EvaluationResult.evaluation_id.in_(evaluation_ids))
        .group_by(EvaluationResult.evaluation_id)
    )
    return {evaluation_id: int(count) for evaluation_id, count in rows.all()}


async def regrade(session: AsyncSession, evaluation: Evaluation) -> None:
    """Grades and ranks from the final scores, the 15% cap applied (also after adjustments)."""
    rules = Rules.from_dict(evaluation.rules)
    results = await results_of(session, evaluation.id)
    by_unit = {r.unit_id: r for r in results}
    ranked = [
        Ranked(
            unit_id=r.unit_id,
            unit_name=r.unit_name,
            score=r.final_score,
            sharing_rate=float(r.figures.get("sharing_rate") or 0.0),
            usage_rate=float(r.figures.get("usage_rate") or 0.0),
        )
        for r in results
    ]
    for unit, grade, rank in assign_grades(ranked, rules):
        by_unit[unit.unit_id].grade, by_unit[unit.unit_id].rank = grade, rank
    await session.flush()


# --- who sees and does what ------------------------------------------------------------------------
async def visible_evaluation(
    session: AsyncSession, principal: Principal, evaluation_id: uuid.UUID, *, lock: bool = False
) -> Evaluation:
    """The region's bureaus (science and finance) and the operator see an evaluation; others 404."""
    query = select(Evaluation).where(Evaluation.id == evaluation_id).execution_options(populate_existing=True)
    evaluation = await session.scalar(locked(query) if lock else query)
    if evaluation is None or not (
        principal.is_platform_admin or evaluation.region_code in bureau_regions(principal)
    ):
        raise EvaluationNotFound()
    return evaluation


async def require_science_bureau(session: AsyncSession, principal: Principal, region_code: str) -> None:
    if region_code not in await science_regions(session, principal):
        raise ScienceBureauRequired()


def require_changeable(evaluation: Evaluation, *states: EvaluationStatus) -> None:
    if evaluation.status == EvaluationStatus.published:
        raise EvaluationFrozen()
    if evaluation.status not in states:
        raise InvalidEvaluationTransition(status=evaluation.status.value)


async def list_evaluations(session: AsyncSession, principal: Principal) -> list[Evaluation]:
    query = select(Evaluation).order_by(Evaluation.year.desc(), Evaluation.region_code)
    if not principal.is_platform_admin:
        query = query.where(Evaluation.region_code.in_(bureau_regions(principal)))
    return list(await session.scalars(query.limit(200)))


# --- transitions -----------------------------------------------------------------------------------
async def transition(
    session: AsyncSession, principal: Principal, evaluation_id: uuid.UUID, action: str
) -> Evaluation:
    source, target = TRANSITIONS[action]
    async with transaction(session):
        evaluation = await visible_evaluation(session, principal, evaluation_id, lock=True)
        await require_science_bureau(session, principal, evaluation.region_code)
        if evaluation.status == target:
            return evaluation  # the same action again changes nothing
        require_changeable(evaluation, source)
        now = utcnow()
        if action == "submit":
            if await _pending(session, ScoreAdjustment, evaluation.id):
                raise AdjustmentPending()
            evaluation.submitted_by, evaluation.submitted_at = principal.user_id, now
        elif action == "publish":
            if await _pending(session, Objection, evaluation.id):
                raise ObjectionPending()
            await _publish(session, evaluation, principal.user_id, now)
        evaluation.status = target
        await session.flush()
        return evaluation


async def _pending(
    session: AsyncSession, table: type[ScoreAdjustment] | type[Objection], evaluation_id: uuid.UUID
) -> bool:
    condition = (
        ScoreAdjustment.status == AdjustmentStatus.proposed
        if table is ScoreAdjustment
        else Objection.answered_at.is_(None)
    )
    found = await session.scalar(
        select(table.id)
        .join(EvaluationResult, EvaluationResult.id == table.result_id)
        .where(EvaluationResult.evaluation_id == evaluation_id, condition)
        .limit(1)
    )
    return found is not None


async def publish_now(
    session: AsyncSession, evaluation: Evaluation, actor_id: uuid.UUID, now: datetime
) -> None:
    """Submit and publish in one step (the demo's evaluation, which nobody adjusts)."""
    evaluation.submitted_by, evaluation.submitted_at = actor_id, now
    await _publish(session, evaluation, actor_id, now)
    evaluation.status = EvaluationStatus.published
    await session.flush()


async def _publish(session: AsyncSession, evaluation: Evaluation, actor_id: uuid.UUID, now: datetime) -> None:
    rules = Rules.from_dict(evaluation.rules)
    calendar = await load_working_day_calendar(session)
    deadline = calendar.add_working_days(shanghai_today(now), rules.rectification_working_days)
    for result in await results_of(session, evaluation.id):
        if result.grade == Grade.poor:
            session.add(
                Rectification(
                    evaluation_id=evaluation.id,
                    unit_id=result.unit_id,
                    unit_name=result.unit_name,
                    deadline=deadline,
                    listed_at=now,
                )
            )
    # a newer year's flags replace an older year's (an instrument used again is no longer flagged)
    earlier = select(Evaluation.id).where(
        Evaluation.region_code == evaluation.region_code,
        Evaluation.year < evaluation.year,
        Evaluation.status == EvaluationStatus.published,
    )
    await session.execute(
        update(UsageFlag)
        .where(UsageFlag.evaluation_id.in_(earlier), UsageFlag.superseded_at.is_(None))
        .values(superseded_at=now)
        .execution_options(synchronize_session=False)
    )
    later = await session.scalar(
        select(Evaluation.id).where(
            Evaluation.region_code == evaluation.region_code,
            Evaluation.year > evaluation.year,
            Evaluation.status == EvaluationStatus.published,
        )
    )
    if later is not None:
        await session.execute(
            update(UsageFlag)
            .where(UsageFlag.evaluation_id == evaluation.id)
            .values(superseded_at=now)
            .execution_options(synchronize_session=False)
        )
    evaluation.published_by, evaluation.published_at = actor_id, now


# --- opening ---------------------------------------------------------------------------------------
FiguresSource = Callable[
    [AsyncSession, str, int], Awaitable[tuple[Sequence[UnitFiguresLike], Sequence[InstrumentFiguresLike]]]
]


async def open_evaluation(
    session: AsyncSession,
    principal: Principal,
    *,
    year: int,
    region_code: str | None,
    rules: Rules,
    figures: FiguresSource,
    now: datetime | None = None,
) -> Evaluation:
    """The science bureau opens its region's evaluation of an ended ``year``: every unit with
    instruments listed in the region takes part, scored from the year's indicators."""
    regions = await science_regions(session, principal)
    if region_code is None and len(regions) == 1:
        region_code = next(iter(regions))
    if region_code is None or region_code not in regions:
        raise ScienceBureauRequired()
    if year >= shanghai_today(now or utcnow()).year:
        raise InvalidYear(field="year")
    async with transaction(session):
        exists = await session.scalar(
            select(Evaluation.id).where(Evaluation.region_code == region_code, Evaluation.year == year)
        )
        if exists is not None:
            raise EvaluationExists(evaluation_id=str(exists))
        units, instruments = await figures(session, region_code, year)
        units = [u for u in units if u.instruments > 0]
        if not units:
            raise NoParticipants()
        try:
            async with session.begin_nested():
                return await store_evaluation(
                    session,
                    region_code=region_code,
                    year=year,
                    opened_by=principal.user_id,
                    rules=rules,
                    units=units,
                    instruments=instruments,
                )
        except IntegrityError as exc:  # another officer opened it at the same moment
            raise EvaluationExists() from exc
