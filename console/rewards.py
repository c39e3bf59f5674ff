"""The bureaus' sharing reward desk (共享奖励): the year's terms (the finance bureau sets them), the
batches drawn from the records, one batch with a line per unit and its instruments, each line's
bookings one click away, and the batch's steps (submit, four-eyes approval by the finance bureau,
mark paid, reconcile, discard) and export.

Every read and action is the service the API calls (``oversight.reward_batches``), which decides
who may see and do what; the buttons shown are its state machine's.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from accounts.models import STAFF_ROLES, Role
from console.pages import act, as_input, render
from oversight import reward_batches as service
from oversight import reward_export
from oversight.reward_controllers import published_grades
from oversight.reward_models import RewardBatch
from oversight.reward_schemas import RewardProgrammeIn, RewardTermsIn
from vouchers.models import SettlementStatus
from vouchers.rules import yuan_to_fen
from vouchers.schemas import MarkPaidIn
from vouchers.settlement import TRANSITIONS
from vouchers.settlement_export import EVIDENCE_LABELS
from yixiang.clock import shanghai_today
from yixiang.db import transaction
from yixiang.errors import InvalidInput
from yixiang.openapi import CSV, XLSX

BUREAU = requires_role(Role.bureau_officer, Role.platform_admin)
OFFICER = requires_role(Role.bureau_officer)
LINE_READERS = requires_role(Role.bureau_officer, Role.platform_admin, *STAFF_ROLES)
# URL name → (the service's action, what the message says, who may: "bureau" or "finance")
ACTIONS = {
    "submit": ("submit", "已提交，等待财政局另一位经办人审核", "bureau"),
    "approve": ("approve", "已审核通过，奖励金额已从奖励预算记入各单位应付", "finance"),
    "mark-paid": ("mark_paid", "已登记付款", "finance"),
    "reconcile": ("reconcile", "已对账，批次关闭", "finance"),
    "discard": ("discard", "草稿已作废，可修改方案后重新生成", "bureau"),
}
# form field → (the terms' field, how it is written: "percent" of the basis or "yuan")
TERM_FIELDS = {
    "rate_percent": ("rate_bp", "percent"),
    "instrument_cap_yuan": ("instrument_cap_fen", "yuan"),
    "unit_cap_yuan": ("unit_cap_fen", "yuan"),
    "premium_cap_yuan": ("premium_cap_fen", "yuan"),
    "excellent_percent": ("excellent_rate_bp", "percent"),
    "good_percent": ("good_rate_bp", "percent"),
}


def _terms(form: Any) -> dict[str, Any]:
    """The form's terms as the API's fields (percent → basis points, yuan → fen); blank: default."""
    terms: dict[str, Any] = {}
    if name := str(form.get("name", "")).strip():
        terms["name"] = name
    for field, (target, kind) in TERM_FIELDS.items():
        raw = str(form.get(field, "")).strip()
        if not raw:
            continue
        try:
            if kind == "yuan":
                terms[target] = yuan_to_fen(raw)
            else:
                basis_points = Decimal(raw.rstrip("%")) * 100
                if basis_points != basis_points.to_integral_value():
                    raise ValueError(raw)
                terms[target] = int(basis_points)
        except (ValueError, InvalidOperation):
            what = "金额（元，最多两位小数）" if kind == "yuan" else "百分比（最多两位小数）"
            raise InvalidInput(f"应填写{what}", field=field) from None
    return terms


@get("/rewards", summary="Console: reward programmes and batches of the officer's region", guards=[BUREAU])
async def rewards(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        programmes = [
            await service.programme_out(db_session, p)
            for p in await service.list_programmes(db_session, principal)
        ]
        batches = await service.list_batches(db_session, principal)
        finance = bool(await service.finance_bureaus(db_session, principal))
    return render(
        request,
        "rewards.html",
        programmes=programmes,
        batches=batches,
        finance=finance,
        officer=principal.has_role(Role.bureau_officer),
        last_year=shanghai_today().year - 1,
    )


@post(
    "/reward-programmes", summary="Console: the finance bureau sets a year's reward terms", guards=[OFFICER]
)
async def create_programme(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()

    async def work() -> str:
        try:
            year = int(str(form.get("year", "")).strip())
        except ValueError:
            raise InvalidInput("请填写年度", field="year") from None
        data = as_input({"year": year, **_terms(form)}, RewardProgrammeIn)
        async with transaction(db_session):
            await service.create_programme(db_session, principal, data)
        return f"已设立 {year} 年度共享奖励方案"

    return await act("/console/rewards", work)


@post(
    "/reward-programmes/{programme_id:uuid}",
    summary="Console: change a programme's terms (before any batch)",
    guards=[OFFICER],
)
async def update_programme(
    request: Request[Any, Any, Any], programme_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()

    async def work() -> str:
        async with transaction(db_session):
            current = await service.programme_out(
                db_session, await service.get_programme(db_session, principal, programme_id)
            )
            kept = {f: getattr(current, f) for f in RewardTermsIn.__struct_fields__}
            await service.update_programme(
                db_session, principal, programme_id, as_input(kept | _terms(form), RewardTermsIn)
            )
        return "方案已修改"

    return await act("/console/rewards", work)


@post(
    "/reward-programmes/{programme_id:uuid}/batches",
    summary="Console: draw the year's reward batch from the records",
    guards=[OFFICER],
)
async def draw(
    request: Request[Any, Any, Any], programme_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    async def work() -> tuple[str, str]:
        async with transaction(db_session):
            batch = await service.draw_batch(db_session, principal, programme_id, published_grades)
        return "已生成奖励批次草稿，请逐家核对", f"/console/reward-batches/{batch.id}"

    return await act("/console/rewards", work)


@get("/reward-batches/{batch_id:uuid}", summary="Console: a reward batch, unit by unit", guards=[BUREAU])
async def batch_page(
    request: Request[Any, Any, Any], batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        batch = await service.get_batch(db_session, principal, batch_id)
        out = await service.batch_out(db_session, batch)
        programme = await service.programme_out(
            db_session, await service.get_programme(db_session, principal, batch.programme_id)
        )
        finance = any(
            b.region_code == batch.region_code for b in await service.finance_bureaus(db_session, principal)
        )
        report = (
            await service.reconciliation(db_session, principal, batch_id)
            if batch.status != SettlementStatus.draft
            else None
        )
    officer = principal.has_role(Role.bureau_officer)
    actions = [
        name
        for name, (action, _, who) in ACTIONS.items()
        if officer and TRANSITIONS[action][0] == batch.status and (who == "bureau" or finance)
    ]
    own_submission = batch.submitted_by == principal.user_id
    if own_submission:  # four eyes: the submitter is not offered the approval the service refuses
        actions = [a for a in actions if a != "approve"]
    return render(
        request,
        "reward_batch.html",
        batch=out,
        programme=programme,
        actions=actions,
        own_submission=own_submission and batch.status == SettlementStatus.submitted,
        report=report,
    )


@post(
    "/reward-batches/{batch_id:uuid}/{action:str}",
    summary="Console: submit, approve, mark paid, reconcile, discard a reward batch",
    guards=[OFFICER],
)
async def batch_action(
    request: Request[Any, Any, Any],
    batch_id: uuid.UUID,
    action: str,
    principal: Principal,
    db_session: AsyncSession,
) -> Redirect:
    if action not in ACTIONS:
        raise InvalidInput("未知的操作", action=action[:40])
    form = await request.form()
    name, done, _ = ACTIONS[action]

    async def work() -> str:
        paid = None
        if name == "mark_paid":
            reference = str(form.get("bank_reference", "")).strip()
            if not 1 <= len(reference) <= 100:
                raise InvalidInput("请填写银行付款流水号（1–100 个字符）", field="bank_reference")
            paid = MarkPaidIn(bank_reference=reference)
        async with transaction(db_session):
            await service.transition(db_session, principal, batch_id, name, paid=paid)
        return done

    return await act(f"/console/reward-batches/{batch_id}", work)


@get(
    "/reward-batches/{batch_id:uuid}/export",
    summary="Console: download the reward batch (CSV or XLSX)",
    guards=[BUREAU],
)
async def export(
    batch_id: uuid.UUID,
    principal: Principal,
    db_session: AsyncSession,
    format: Literal["csv", "xlsx"] = "xlsx",
) -> Response[bytes]:
    async with transaction(db_session, read_only=True):
        out = await service.batch_out(db_session, await service.get_batch(db_session, principal, batch_id))
    content, media = (
        (reward_export.export_xlsx(out), XLSX) if format == "xlsx" else (reward_export.export_csv(out), CSV)
    )
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="reward-{out.year}.{format}"'},
    )


@get(
    "/reward-batches/{batch_id:uuid}/lines/{unit_id:uuid}",
    summary="Console: the bookings behind a unit's reward line, with their records",
    guards=[LINE_READERS],
)
async def line_page(
    request: Request[Any, Any, Any],
    batch_id: uuid.UUID,
    unit_id: uuid.UUID,
    principal: Principal,
    db_session: AsyncSession,
) -> Template:
    async with transaction(db_session, read_only=True):
        bookings = await service.line_evidence(db_session, principal, batch_id, unit_id)
        batch = await db_session.get(RewardBatch, batch_id)
        assert batch is not None  # line_evidence found it
        line = next(
            (
                line
                for line in await service.lines_out(
                    db_session, [batch], await service.batch_lines(db_session, batch_id)
                )
                if line.unit_id == unit_id
            ),
        )
    return render(
        request,
        "reward_line.html",
        batch=batch,
        line=line,
        bookings=bookings,
        evidence_labels=EVIDENCE_LABELS,
        bureau=principal.is_platform_admin or principal.has_role(Role.bureau_officer),
    )


@get("/unit-rewards", summary="Console: the unit's own reward lines", guards=[requires_role(*STAFF_ROLES)])
async def unit_rewards(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        lines = await service.unit_lines(db_session, principal)
    return render(request, "unit_rewards.html", lines=lines)


ROUTES = [
    unit_rewards,
    rewards,
    create_programme,
    update_programme,
    draw,
    batch_page,
    batch_action,
    export,
    line_page,
]
