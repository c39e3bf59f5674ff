"""HTTP routes of search: parse → search service → Struct."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import requires_role
from accounts.models import Role
from catalogue.live import LIVE_STATUS, LiveFilter
from search import service
from search.backend import Mode, Sort
from search.dependencies import SearchBackendDependency
from search.schemas import ReindexReport, SearchPage
from search.sync import reindex
from yixiang.db import transaction
from yixiang.ratelimit import rate_limit
from yixiang.replicas import REPLICA_READS
from yixiang.schemas import INT32_MAX, QUERY_MINIMUM_ZERO

# Prices are compared with service items' ``Integer`` prices: a bound beyond it is a 400, not an
# overflow in the database driver.
PRICE: dict[str, Any] = {"ge": 0, "le": INT32_MAX, "schema_extra": QUERY_MINIMUM_ZERO}


class SearchController(Controller):
    path = "/api/v1/instruments/search"
    tags = ["search"]

    @get(
        "/",
        summary="Search instruments (free text, filters, sort, facets, cursor pages)",
        guards=[rate_limit("search")],
        opt={REPLICA_READS: True},
    )
    async def search(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        search_backend: SearchBackendDependency,
        q: Annotated[
            str, Parameter(max_length=100, description="中英文、缩写、型号，可为空（按条件浏览）")
        ] = "",
        region: Annotated[
            str | None, Parameter(pattern=r"^\d{6}$", description="行政区划代码：省含所辖市")
        ] = None,
        category: Annotated[str | None, Parameter(max_length=8, description="分类代码：一级含其二级")] = None,
        mode: Mode | None = None,
        voucher: bool | None = None,
        price_min: Annotated[int | None, Parameter(**PRICE, description="最低价下限（分）")] = None,
        price_max: Annotated[int | None, Parameter(**PRICE, description="最低价上限（分）")] = None,
        unit: uuid.UUID | None = None,
        sort: Sort | None = None,
        lat: Annotated[float | None, Parameter(ge=-90, le=90)] = None,
        lng: Annotated[float | None, Parameter(ge=-180, le=180)] = None,
        available_from: date | None = None,
        available_to: date | None = None,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
        limit: Annotated[int, Parameter(ge=1, le=50)] = 20,
        live: Annotated[
            LiveFilter | None,
            Parameter(description="现场状态：free_now 现在空闲（待机或关机且此刻未被预约）、running 等"),
        ] = None,
    ) -> SearchPage:
        req = service.SearchRequest(
            q=q, region=region, category=category, mode=mode, voucher=voucher, price_min=price_min,
            price_max=price_max, unit=unit, sort=sort, lat=lat, lng=lng, available_from=available_from,
            available_to=available_to, cursor=cursor, limit=limit, live=live.value if live else None,
        )  # fmt: skip
        reader = request.app.state.services.get(LIVE_STATUS)
        async with transaction(db_session, read_only=True):
            return await service.search(db_session, search_backend, req, reader)


class SearchAdminController(Controller):
    path = "/api/v1/admin/search"
    tags = ["admin"]
    guards = [requires_role(Role.platform_admin)]

    @post("/reindex", status_code=200, summary="Rebuild the search index from the catalogue (no downtime)")
    async def reindex(
        self, request: Request[Any, Any, Any], search_backend: SearchBackendDependency
    ) -> ReindexReport:
        runtime = request.app.state.runtime
        count = await reindex(runtime.session_maker, search_backend)
        return ReindexReport(backend=search_backend.name, documents=count)
