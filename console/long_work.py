"""Long work started from a page and followed on its own page: the operator's search reindex, a
unit's monthly import, a large download (``console.exports``). The start answers at once with the
job's page, which shows its progress (refreshing itself while it runs) and its outcome; it can be
left and opened again from the list of recent jobs on the page that started it
(``yixiang.long_jobs``)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role
from accounts.models import STAFF_ROLES, Role
from console.pages import render
from search.dependencies import SearchBackendDependency
from search.sync import reindex
from yixiang.db import transaction
from yixiang.errors import NotFound
from yixiang.long_jobs import JobStatus, LongJob, ProgressReport, recent_jobs, start_job, view_job

OPERATOR = requires_role(Role.platform_admin)
JOB_READERS = requires_role(*STAFF_ROLES, Role.bureau_officer, Role.platform_admin)
REINDEX = "search_reindex"
IMPORT = "instrument_import"
BOOKINGS_EXPORT = "bookings_export"
SETTLEMENT_EXPORT = "settlement_export"
EXPORTS = (BOOKINGS_EXPORT, SETTLEMENT_EXPORT)
# Where a job's page leads back to: the page that started it.
BACK = {
    REINDEX: "/console/search-index",
    IMPORT: "/console/instruments",
    BOOKINGS_EXPORT: "/console/bookings",
    SETTLEMENT_EXPORT: "/console/settlements",
}
STATUS_LABELS = {JobStatus.running: "进行中", JobStatus.done: "已完成", JobStatus.failed: "失败"}


def job_visible(principal: Principal, job: LongJob) -> bool:
    """The operator sees every job; a unit's staff the jobs started for their unit; anyone the
    jobs they started themselves (a bureau officer's download of what they may read)."""
    if principal.is_platform_admin or (job.started_by is not None and job.started_by == principal.user_id):
        return True
    return job.organization_id is not None and job.organization_id in principal.orgs_where(*STAFF_ROLES)


async def visible_job(principal: Principal, db_session: AsyncSession, job_id: uuid.UUID) -> LongJob:
    async with transaction(db_session, read_only=True):
        job = await db_session.get(LongJob, job_id)
    if job is None or not job_visible(principal, job):
        raise NotFound("没有这项任务")
    return job


@get("/search-index", summary="Console: the search index and its rebuilds", guards=[OPERATOR])
async def search_index(
    request: Request[Any, Any, Any], db_session: AsyncSession, search_backend: SearchBackendDependency
) -> Template:
    store = request.app.state.runtime.store
    async with transaction(db_session, read_only=True):
        found = await recent_jobs(db_session, kind=REINDEX, organization_ids=None)
    jobs = [await view_job(store, job) for job in found]
    return render(request, "search_index.html", backend=search_backend.name, jobs=jobs, labels=STATUS_LABELS)


@post("/search-index/reindex", summary="Console: rebuild the search index (a job)", guards=[OPERATOR])
async def start_reindex(
    request: Request[Any, Any, Any], principal: Principal, search_backend: SearchBackendDependency
) -> Redirect:
    runtime = request.app.state.runtime

    async def work(report: ProgressReport) -> dict[str, Any]:
        count = await reindex(runtime.session_maker, search_backend, progress=report)
        return {"documents": count, "backend": search_backend.name}

    job_id = await start_job(
        runtime.session_maker,
        runtime.store,
        kind=REINDEX,
        title="重建搜索索引",
        started_by=principal.user_id,
        organization_id=None,
        work=work,
    )
    return Redirect(f"/console/jobs/{job_id}", status_code=303)


@get(
    "/jobs/{job_id:uuid}",
    summary="Console: a long job's progress and outcome",
    guards=[JOB_READERS],
)
async def job_page(
    request: Request[Any, Any, Any], job_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    job = await visible_job(principal, db_session, job_id)
    view = await view_job(request.app.state.runtime.store, job)
    return render(
        request,
        "job.html",
        view=view,
        labels=STATUS_LABELS,
        back=BACK.get(job.kind, "/console"),
        IMPORT=IMPORT,
        is_export=job.kind in EXPORTS,
    )


ROUTES = [search_index, start_reindex, job_page]
