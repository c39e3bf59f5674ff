"""The bureau's dashboard for its region: instruments, bookings, vouchers, with bars drawn in
HTML (no chart library to load: the numbers are the records', listed beside each bar)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from accounts.models import Region, Role
from booking.services import STATUS_LABELS
from console.pages import render
from console.region_figures import DAYS, region_figures
from yixiang.db import transaction


@get(
    "/region",
    summary="Console: the dashboard of the officer's region",
    guards=[requires_role(Role.bureau_officer)],
)
async def region(request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession) -> Template:
    areas = principal.regions_where(Role.bureau_officer)
    async with transaction(db_session, read_only=True):
        figures = await region_figures(db_session, areas)
        names = [r.name for code in sorted(areas) if (r := await db_session.get(Region, code)) is not None]
    busiest = max((n for _, n in figures.bookings_by_day), default=0)
    widest = max((n for _, n in figures.by_category), default=0)
    return render(
        request,
        "region.html",
        figures=figures,
        region_names=names,
        days=DAYS,
        busiest=busiest,
        widest=widest,
        status_labels=STATUS_LABELS,
    )


ROUTES = [region]
