"""Purchase review (购置查重评议, seed 004 §(二), seed 002 §二).

A holding unit files a proposed purchase. At or above the review threshold (a setting, 500,000 元
by default) the review report is generated at once (:mod:`oversight.review_report`) and stored as
it was generated; below it the filing is recorded as not requiring review. A unit whose
same-category instrument carries an open 30% flag of the performance evaluation is refused: the
seed suspends purchases of that class until the flag is lifted.

Reviewers — officers of the science bureau of the filing's region, or experts that bureau appoints
— record 通过 / 调整 / 不予通过 with reasons; the report and the decision are then frozen together
as one document (``PurchaseReview.document``), rendered as a page and a PDF from that record only.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Organization, Region, Role, User
from catalogue.access import is_staff_of
from catalogue.models import Category
from oversight.access import science_regions
from oversight.errors import (
    ExpertNotFound,
    NotFilingUnit,
    NotReviewer,
    NotScienceBureau,
    PlaceOutsideUnitRegion,
    PurchaseBlockedByLowUsage,
    PurchaseReviewNotFound,
    ReviewNotPending,
    UnknownCategory,
    UnknownRegion,
)
from oversight.evaluation import low_usage_flags
from oversight.review_models import PurchaseReview, ReviewExpert, ReviewStatus, Verdict
from oversight.review_report import build_report, city_of, people_time
from oversight.review_schemas import PurchaseFilingIn
from oversight.settings import OversightSettings
from vouchers.rules import region_covers
from yixiang.db import transaction, utcnow
from yixiang.locking import lock_row
from yixiang.settings import Settings


# --- who may do what -------------------------------------------------------------------------------
async def expert_regions(session: AsyncSession, principal: Principal) -> set[str]:
    rows = await session.scalars(
        select(ReviewExpert.region_code).where(
            ReviewExpert.user_id == principal.user_id, ReviewExpert.revoked_at.is_(None)
        )
    )
    return set(rows)


async def reviewer_regions(session: AsyncSession, principal: Principal) -> set[str]:
    """Where the caller may decide reviews: its science bureaus' regions and its appointments."""
    return await science_regions(session, principal) | await expert_regions(session, principal)


async def reader_regions(session: AsyncSession, principal: Principal) -> set[str]:
    """Where the caller reads every review: its bureaus' regions (science and finance: the finance
    bureau budgets the purchase) and its appointments as an expert."""
    return principal.regions_where(Role.bureau_officer) | await expert_regions(session, principal)


def _covered(areas: set[str], region_code: str) -> bool:
    return any(region_covers(area, region_code) for area in areas)


async def can_read(session: AsyncSession, principal: Principal, review: PurchaseReview) -> bool:
    return (
        is_staff_of(principal, review.unit_id)
        or principal.is_platform_admin
        or _covered(await reader_regions(session, principal), review.region_code)
    )


async def can_decide(session: AsyncSession, principal: Principal, review: PurchaseReview) -> bool:
    return review.status == ReviewStatus.pending and _covered(
        await reviewer_regions(session, principal), review.region_code
    )


async def require_reviewer(session: AsyncSession, principal: Principal, review: PurchaseReview) -> None:
    if not _covered(await reviewer_regions(session, principal), review.region_code):
        raise NotReviewer()


async def readable_review(
    session: AsyncSession, principal: Principal, review_id: uuid.UUID
) -> PurchaseReview:
    """The review if the caller may read it; any other is a 404 (its existence is not revealed)."""
    review = await session.get(PurchaseReview, review_id)
    if review is None or not await can_read(session, principal, review):
        raise PurchaseReviewNotFound()
    return review


async def visible_reviews(
    session: AsyncSession, principal: Principal, status: ReviewStatus | None = None
) -> list[PurchaseReview]:
    """The caller's units' filings; its regions' for a bureau or an expert; all for the operator."""
    query = select(PurchaseReview)
    if not principal.is_platform_admin:
        areas = await reader_regions(session, principal)
        codes = [c for c in await session.scalars(select(Region.code)) if _covered(areas, c)]
        query = query.where(
            PurchaseReview.unit_id.in_(principal.unit_ids) | PurchaseReview.region_code.in_(codes)
        )
    if status is not None:
        query = query.where(PurchaseReview.status == status)
    return list(await session.scalars(query.order_by(PurchaseReview.filed_at.desc()).limit(500)))


# --- filing ----------------------------------------------------------------------------------------
async def file_purchase(
    session: AsyncSession, principal: Principal, filing: PurchaseFilingIn, *, settings: Settings
) -> PurchaseReview:
    """A unit files a proposed purchase; at or above ``threshold_fen`` its report is generated now."""
    async with transaction(session):
        units = principal.unit_ids
        unit_id = filing.unit_id or (next(iter(units)) if len(units) == 1 else None)
        if unit_id is None or unit_id not in units:
            raise NotFilingUnit()
        unit = await session.get(Organization, unit_id)
        assert unit is not None  # a membership points at it
        category = await session.get(Category, filing.category_code)
        if category is None:
            raise UnknownCategory(category_code=filing.category_code)
        region_code = filing.region_code or unit.region_code
        region = await session.get(Region, region_code)
        if region is None:
            raise UnknownRegion(region_code=region_code)
        if not region_covers(city_of(unit.region_code), region_code):
            # the bureau that reviews is the unit's own: the place is in the unit's city
            raise PlaceOutsideUnitRegion(region_code=region_code, unit_region_code=unit.region_code)
        review = PurchaseReview(
            unit_id=unit_id,
            region_code=region_code,
            category_code=category.code,
            instrument_name=filing.instrument_name,
            model=filing.model,
            price_fen=filing.price_fen,
            justification=filing.justification,
            expected_hours_per_year=filing.expected_hours_per_year,
            origin=filing.origin,
            latitude=filing.latitude,
            longitude=filing.longitude,
            status=ReviewStatus.not_required,
            filed_by=principal.user_id,
            filed_at=utcnow(),
        )
        threshold_fen = OversightSettings.of(settings).review_threshold_fen
        if filing.price_fen >= threshold_fen:
            flags = [
                f
                for f in await low_usage_flags(session, unit_id=unit_id)
                if _same_class(f.category_code, category.code)
            ]
            if flags:
                names = "、".join(
                    f"{f.instrument_name}（{f.year}年 {f.usage_rate * 100:.1f}%）" for f in flags
                )
                raise PurchaseBlockedByLowUsage(
                    f"本单位同类仪器 {names} 使用率低于30%已被标记，暂停受理该类仪器的购置查重评议；"
                    "请先提高现有仪器的使用率",
                    flagged=[
                        {
                            "instrument_id": str(f.instrument_id),
                            "instrument_name": f.instrument_name,
                            "year": f.year,
                            "usage_rate": f.usage_rate,
                        }
                        for f in flags
                    ],
                )
            review.status = ReviewStatus.pending
            review.report = await build_report(
                session,
                review,
                unit_name=unit.name,
                region_name=region.name,
                category_name=category.name,
                threshold_fen=threshold_fen,
                settings=settings,
            )
        session.add(review)
        await session.flush()
    return review


def _same_class(flagged: str, filed: str) -> bool:
    """A flag on a category blocks a filing of that category, of a sub-category, or of its parent."""
    return flagged.startswith(filed) or filed.startswith(flagged)


# --- the decision ----------------------------------------------------------------------------------
async def decide(
    session: AsyncSession, principal: Principal, review_id: uuid.UUID, verdict: Verdict, reasons: str
) -> PurchaseReview:
    """A reviewer of the region records the decision; report and decision are frozen together."""
    async with transaction(session):
        review = await lock_row(session, PurchaseReview, review_id)
        if review is None or not await can_read(session, principal, review):
            raise PurchaseReviewNotFound()
        await require_reviewer(session, principal, review)
        if review.status != ReviewStatus.pending or review.report is None:
            raise ReviewNotPending()
        now = utcnow()
        reviewer = await session.get(User, principal.user_id)
        review.verdict, review.reasons = verdict, reasons
        review.decided_by, review.decided_at = principal.user_id, now
        review.status = ReviewStatus.decided
        review.document = {
            "report": review.report,
            "decision": {
                "verdict": verdict.value,
                "reasons": reasons,
                "reviewer": reviewer.display_name if reviewer else principal.display_name,
                "as": "科技局"
                if _covered(await science_regions(session, principal), review.region_code)
                else "评议专家",
                "decided_at": people_time(now),
            },
        }
    return review


# --- experts ---------------------------------------------------------------------------------------
async def _science_region_of(session: AsyncSession, principal: Principal) -> str:
    regions = await science_regions(session, principal)
    if len(regions) != 1:
        raise NotScienceBureau()
    return next(iter(regions))


async def appoint_expert(session: AsyncSession, principal: Principal, username: str) -> ReviewExpert:
    """A science bureau appoints a user (by user name) as a review expert of its region; appointing
    one already appointed returns the standing appointment."""
    async with transaction(session):
        region_code = await _science_region_of(session, principal)
        user = await session.scalar(select(User).where(User.username == username, User.is_active.is_(True)))
        if user is None:
            raise ExpertNotFound(username=username)
        standing = await session.scalar(
            select(ReviewExpert).where(
                ReviewExpert.user_id == user.id,
                ReviewExpert.region_code == region_code,
                ReviewExpert.revoked_at.is_(None),
            )
        )
        if standing is not None:
            return standing
        expert = ReviewExpert(
            user_id=user.id, region_code=region_code, appointed_by=principal.user_id, appointed_at=utcnow()
        )
        session.add(expert)
        await session.flush()
    return expert


async def revoke_expert(session: AsyncSession, principal: Principal, expert_id: uuid.UUID) -> ReviewExpert:
    async with transaction(session):
        expert = await lock_row(session, ReviewExpert, expert_id)
        if expert is None or expert.region_code not in await science_regions(session, principal):
            raise ExpertNotFound()
        if expert.revoked_at is None:
            expert.revoked_at = utcnow()
    return expert


async def region_experts(session: AsyncSession, principal: Principal) -> list[tuple[ReviewExpert, User]]:
    """The appointments of the caller's bureaus' regions (the operator: all)."""
    query = select(ReviewExpert, User).join(User, User.id == ReviewExpert.user_id)
    if not principal.is_platform_admin:
        query = query.where(ReviewExpert.region_code.in_(principal.regions_where(Role.bureau_officer)))
    rows = await session.execute(query.order_by(ReviewExpert.appointed_at))
    return [(e, u) for e, u in rows.all()]
