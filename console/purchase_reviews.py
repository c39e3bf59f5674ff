"""Purchase review (购置查重评议) at the desk: a unit files a proposed purchase and follows its
report and decision; the science bureau lists its region's reviews, reads a report and records the
decision. Each read and action is the service the API calls (``oversight.review``); the report
page and the PDF render the stored document (``oversight.review_document``)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role, requires_user
from accounts.models import STAFF_ROLES, Role
from console.names import leaf_categories, org_names, user_names
from console.pages import MenuItem, act, as_input, menu_for, render
from oversight import review
from oversight.access import covers, science_regions
from oversight.errors import ExpertNotFound, NotScienceBureau
from oversight.review_controllers import review_pdf_response
from oversight.review_document import document_of, view_of
from oversight.review_models import PurchaseReview, ReviewStatus, Verdict
from oversight.review_schemas import ExpertIn, PurchaseFilingIn, ReviewDecisionIn
from oversight.settings import OversightSettings
from vouchers.rules import yuan_to_fen
from yixiang.db import transaction
from yixiang.errors import InvalidInput

READER_ROLES = (*STAFF_ROLES, Role.bureau_officer, Role.platform_admin)
FILERS = requires_role(*STAFF_ROLES)
BUREAU = requires_role(Role.bureau_officer)
REVIEWS_MENU = MenuItem("查重评议", "/console/purchase-reviews", ())


async def reader_menu(db_session: AsyncSession, principal: Principal) -> list[MenuItem]:
    """The caller's menu on these pages. A review expert is appointed by the science bureau, not
    given a desk role: an expert who is, say, a researcher still reads and decides the region's
    reviews here, with this one page in their menu. Anyone else without a desk role: 403."""
    if principal.has_role(*READER_ROLES):
        return menu_for(principal)
    if await review.expert_regions(db_session, principal):
        return [REVIEWS_MENU]
    principal.require(*READER_ROLES)
    return []


STATUS_LABELS = {
    ReviewStatus.not_required: "低于评议限额，无需评议",
    ReviewStatus.pending: "待评议",
    ReviewStatus.decided: "已评议",
}


@get(
    "/purchase-reviews",
    summary="Console: purchase reviews (a unit's filings, a region's reviews)",
    guards=[requires_user],
)
async def purchase_reviews(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        menu = await reader_menu(db_session, principal)
        rows = await review.visible_reviews(db_session, principal)
        units = await org_names(db_session, {r.unit_id for r in rows})
        categories = await leaf_categories(db_session)
    return render(
        request,
        "purchase_reviews.html",
        rows=rows,
        units=units,
        labels=STATUS_LABELS,
        categories=categories,
        menu=menu,
        can_file=principal.has_role(*STAFF_ROLES),
        threshold_fen=OversightSettings.of(request.app.state.settings).review_threshold_fen,
    )


@post("/purchase-reviews", summary="Console: file a proposed purchase", guards=[FILERS])
async def file(request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession) -> Redirect:
    form = await request.form()

    async def work() -> tuple[str, str]:
        try:
            price_fen = yuan_to_fen(str(form.get("price_yuan", "")).strip())
        except ValueError as exc:
            raise InvalidInput("拟购价格应为金额（元，最多两位小数）", field="price_yuan") from exc
        hours = str(form.get("expected_hours_per_year", "")).strip()
        data = as_input(
            {
                "category_code": str(form.get("category_code", "")),
                "instrument_name": str(form.get("instrument_name", "")).strip(),
                "model": str(form.get("model", "")).strip(),
                "price_fen": price_fen,
                "justification": str(form.get("justification", "")).strip(),
                "expected_hours_per_year": int(hours) if hours.isdigit() else -1,
                "origin": str(form.get("origin", "")),
            },
            PurchaseFilingIn,
        )
        filed = await review.file_purchase(db_session, principal, data, settings=request.app.state.settings)
        if filed.status == ReviewStatus.not_required:
            return "已登记：低于评议限额，无需查重评议", "/console/purchase-reviews"
        return "已申报，查重评议报告已生成", f"/console/purchase-reviews/{filed.id}"

    return await act("/console/purchase-reviews", work)


@get(
    "/purchase-reviews/{review_id:uuid}",
    summary="Console: a purchase review's report and decision",
    guards=[requires_user],
)
async def purchase_review(
    request: Request[Any, Any, Any], review_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        menu = await reader_menu(db_session, principal)
        found = await review.readable_review(db_session, principal, review_id)
        can_decide = await review.can_decide(db_session, principal, found)
        units = await org_names(db_session, {found.unit_id})
        # who may decide it besides the bureau: the experts of its region (as the API lists them)
        experts = [
            (e, u)
            for e, u in await review.region_experts(db_session, principal)
            if e.revoked_at is None and covers({e.region_code}, found.region_code)
        ]
        can_appoint = covers(await science_regions(db_session, principal), found.region_code)
    document = document_of(found)
    return render(
        request,
        "purchase_review.html",
        review=found,
        unit_name=units.get(found.unit_id, ""),
        label=STATUS_LABELS[found.status],
        view=view_of(document) if document else None,
        can_decide=can_decide,
        verdicts=[v.value for v in Verdict],
        experts=experts,
        can_appoint=can_appoint,
        menu=menu,
    )


@post(
    "/purchase-reviews/{review_id:uuid}/decision",
    summary="Console: record the review decision",
    guards=[requires_user],
)
async def decide(
    request: Request[Any, Any, Any], review_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()
    async with transaction(db_session, read_only=True):
        await reader_menu(db_session, principal)
        found = await review.readable_review(db_session, principal, review_id)
        await review.require_reviewer(db_session, principal, found)  # a refusal page, not a message

    async def work() -> str:
        data = as_input(
            {"verdict": str(form.get("verdict", "")), "reasons": str(form.get("reasons", "")).strip()},
            ReviewDecisionIn,
        )
        await review.decide(db_session, principal, review_id, data.verdict, data.reasons)
        return f"评议决定已记录（{data.verdict.value}），报告与决定已固化"

    return await act(f"/console/purchase-reviews/{review_id}", work)


async def _science_bureau_of(
    db_session: AsyncSession, principal: Principal, review_id: uuid.UUID
) -> PurchaseReview:
    """The review, if the caller is an officer of the science bureau of its region (the API's
    rule for appointing experts); a refusal page else (its region's other desks: 403)."""
    async with transaction(db_session, read_only=True):
        found = await review.readable_review(db_session, principal, review_id)
        if not covers(await science_regions(db_session, principal), found.region_code):
            raise NotScienceBureau()
    return found


@post(
    "/purchase-reviews/{review_id:uuid}/experts",
    summary="Console: the science bureau appoints a review expert of its region",
    guards=[BUREAU],
)
async def appoint_expert(
    request: Request[Any, Any, Any], review_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    await _science_bureau_of(db_session, principal, review_id)
    username = str((await request.form()).get("username", "")).strip()

    async def work() -> str:
        data = as_input({"username": username}, ExpertIn)
        try:
            expert = await review.appoint_expert(db_session, principal, data.username)
        except ExpertNotFound as exc:  # a name typed wrong is a message, not a missing page
            raise InvalidInput(f"没有名为“{data.username}”的在用账号", field="username") from exc
        async with transaction(db_session, read_only=True):
            named = await user_names(db_session, {expert.user_id})
        return f"已聘任{named.get(expert.user_id, data.username)}为本地区评议专家，可评议本地区的购置申报"

    return await act(f"/console/purchase-reviews/{review_id}#experts", work)


@post(
    "/purchase-reviews/{review_id:uuid}/experts/{expert_id:uuid}/revoke",
    summary="Console: the science bureau ends an expert's appointment",
    guards=[BUREAU],
)
async def revoke_expert(
    review_id: uuid.UUID, expert_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    await _science_bureau_of(db_session, principal, review_id)

    async def work() -> str:
        expert = await review.revoke_expert(db_session, principal, expert_id)
        async with transaction(db_session, read_only=True):
            named = await user_names(db_session, {expert.user_id})
        return f"已解聘评议专家{named.get(expert.user_id, '')}"

    return await act(f"/console/purchase-reviews/{review_id}#experts", work)


@get("/purchase-reviews/{review_id:uuid}/pdf", summary="Console: the review as a PDF", guards=[requires_user])
async def pdf(review_id: uuid.UUID, principal: Principal, db_session: AsyncSession) -> Response[bytes]:
    async with transaction(db_session, read_only=True):
        await reader_menu(db_session, principal)
        found = await review.readable_review(db_session, principal, review_id)
    return review_pdf_response(found)


ROUTES = [purchase_reviews, file, purchase_review, decide, appoint_expert, revoke_expert, pdf]
