"""HTTP for the purchase review (购置查重评议): filing, the report, the decision, the PDF, experts."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Response
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import User
from oversight import review
from oversight.errors import ReviewNotPending
from oversight.review_document import document_of, document_pdf
from oversight.review_models import PurchaseReview, ReviewExpert, ReviewStatus
from oversight.review_schemas import (
    ExpertIn,
    ExpertOut,
    PurchaseFilingIn,
    PurchaseReviewOut,
    ReviewDecisionIn,
)
from vouchers.documents import download
from yixiang.db import transaction


def review_out(r: PurchaseReview, *, full: bool = True) -> PurchaseReviewOut:
    return PurchaseReviewOut(
        id=r.id,
        unit_id=r.unit_id,
        region_code=r.region_code,
        category_code=r.category_code,
        instrument_name=r.instrument_name,
        model=r.model,
        price_fen=r.price_fen,
        justification=r.justification,
        expected_hours_per_year=r.expected_hours_per_year,
        origin=r.origin.value,
        status=r.status.value,
        filed_at=r.filed_at,
        verdict=r.verdict.value if r.verdict else None,
        reasons=r.reasons,
        decided_at=r.decided_at,
        report=r.report if full else None,
        document=r.document if full else None,
    )


def expert_out(e: ReviewExpert, user: User) -> ExpertOut:
    return ExpertOut(
        id=e.id,
        user_id=e.user_id,
        username=user.username,
        display_name=user.display_name,
        region_code=e.region_code,
        appointed_at=e.appointed_at,
        revoked_at=e.revoked_at,
    )


class PurchaseReviewController(Controller):
    path = "/api/v1/oversight"
    tags = ["oversight"]

    @post(
        "/purchase-reviews",
        summary="A unit files a proposed purchase; at or above the threshold its review report is generated",
        status_code=201,
    )
    async def file(
        self,
        data: PurchaseFilingIn,
        principal: Principal,
        db_session: AsyncSession,
        request: Request[Any, Any, Any],
    ) -> PurchaseReviewOut:
        filed = await review.file_purchase(db_session, principal, data, settings=request.app.state.settings)
        return review_out(filed)

    @get(
        "/purchase-reviews",
        summary="Purchase reviews: the caller's units', or its region's for a bureau or expert",
    )
    async def index(
        self,
        principal: Principal,
        db_session: AsyncSession,
        status: Annotated[ReviewStatus | None, Parameter(query="status")] = None,
    ) -> list[PurchaseReviewOut]:
        async with transaction(db_session, read_only=True):
            found = await review.visible_reviews(db_session, principal, status)
        return [review_out(r, full=False) for r in found]

    @get(
        "/purchase-reviews/{review_id:uuid}",
        summary="A purchase review with its report (and frozen decision)",
    )
    async def show(
        self, review_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> PurchaseReviewOut:
        async with transaction(db_session, read_only=True):
            return review_out(await review.readable_review(db_session, principal, review_id))

    @get("/purchase-reviews/{review_id:uuid}/pdf", summary="The review report (and decision) as a PDF")
    async def pdf(
        self, review_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> Response[bytes]:
        async with transaction(db_session, read_only=True):
            found = await review.readable_review(db_session, principal, review_id)
        return review_pdf_response(found)

    @post(
        "/purchase-reviews/{review_id:uuid}/decision",
        summary="A reviewer records 通过 / 调整 / 不予通过; report and decision are frozen together",
        status_code=200,
    )
    async def decide(
        self, review_id: uuid.UUID, data: ReviewDecisionIn, principal: Principal, db_session: AsyncSession
    ) -> PurchaseReviewOut:
        return review_out(await review.decide(db_session, principal, review_id, data.verdict, data.reasons))

    @get("/review-experts", summary="The review experts appointed in the caller's bureau's region")
    async def experts(self, principal: Principal, db_session: AsyncSession) -> list[ExpertOut]:
        async with transaction(db_session, read_only=True):
            return [expert_out(e, u) for e, u in await review.region_experts(db_session, principal)]

    @post(
        "/review-experts", summary="A science bureau appoints a review expert of its region", status_code=201
    )
    async def appoint(self, data: ExpertIn, principal: Principal, db_session: AsyncSession) -> ExpertOut:
        expert = await review.appoint_expert(db_session, principal, data.username)
        user = await db_session.get(User, expert.user_id)
        assert user is not None
        return expert_out(expert, user)

    @post(
        "/review-experts/{expert_id:uuid}/revoke",
        summary="The science bureau ends an appointment",
        status_code=200,
    )
    async def revoke(self, expert_id: uuid.UUID, principal: Principal, db_session: AsyncSession) -> ExpertOut:
        expert = await review.revoke_expert(db_session, principal, expert_id)
        user = await db_session.get(User, expert.user_id)
        assert user is not None
        return expert_out(expert, user)


def review_pdf_response(found: PurchaseReview) -> Response[bytes]:
    document = document_of(found)
    if document is None:
        raise ReviewNotPending("该申报低于评议限额，没有评议报告")
    return download(
        f"购置查重评议-{found.instrument_name}-{str(found.id)[:8]}.pdf",
        "application/pdf",
        document_pdf(document),
    )
