"""Self-operation qualifications (自主上机培训资格) the unit grants researchers: listed, granted
for one instrument of the unit until a date, revoked — through ``booking.qualifications``."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking.qualifications import grant_qualification, list_qualifications, revoke_qualification
from booking.schemas import QualificationIn
from catalogue import services as catalogue_services
from console.names import instrument_names, user_names
from console.pages import act, as_input, render
from console.provider import STAFF, desk_unit
from yixiang.clock import shanghai_today
from yixiang.db import transaction


@get("/qualifications", summary="Console: the unit's self-operation qualifications", guards=[STAFF])
async def qualifications(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    unit_id = desk_unit(principal, dict(request.query_params))
    rows = await list_qualifications(db_session, principal, unit_id=unit_id, mine=False)
    async with transaction(db_session, read_only=True):
        instruments, _ = await catalogue_services.unit_instruments(
            db_session, principal, unit_id=unit_id, publication=None, offset=0, limit=200
        )
        names = {
            **await instrument_names(db_session, (r.instrument_id for r in rows if r.instrument_id)),
            **await user_names(db_session, (r.user_id for r in rows)),
        }
    return render(
        request,
        "qualifications.html",
        rows=rows,
        names=names,
        instruments=[i for i in instruments if i.self_operation],
        today=shanghai_today(),
        default_expiry=date(shanghai_today().year + 1, shanghai_today().month, 1).isoformat(),
    )


@post("/qualifications", summary="Console: grant a researcher a qualification", guards=[STAFF])
async def grant(request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession) -> Redirect:
    form = await request.form()

    async def work() -> str:
        data = as_input(
            {
                "username": str(form.get("username", "")).strip(),
                "expires_on": str(form.get("expires_on", "")),
                "instrument_id": str(form.get("instrument_id", "")),
                "note": str(form.get("note", ""))[:200],
            },
            QualificationIn,
        )
        await grant_qualification(db_session, principal, data)
        return f"已授予 {data.username} 自主上机资格，有效至 {data.expires_on}"

    return await act("/console/qualifications", work)


@post(
    "/qualifications/{qualification_id:uuid}/revoke",
    summary="Console: revoke a qualification",
    guards=[STAFF],
)
async def revoke(qualification_id: uuid.UUID, principal: Principal, db_session: AsyncSession) -> Redirect:
    async def work() -> str:
        await revoke_qualification(db_session, principal, qualification_id)
        return "资格已撤销"

    return await act("/console/qualifications", work)


ROUTES = [qualifications, grant, revoke]
