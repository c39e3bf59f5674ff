"""Large downloads as long jobs (issue 23: long work shows progress and can be left and revisited).

A download of more rows than ``YIXIANG_CONSOLE_EXPORT_JOB_ROWS`` (the bookings table, a settlement
batch) is not made while the person waits on the request: it becomes a job (``yixiang.long_jobs``)
whose page shows how many rows are written and, when done, offers the file. The file is kept where
result files are (``results.storage``: the data dir or S3, so another replica can serve it) under
a key of its own; it is read back only through the job, by those who may see the job, for
``YIXIANG_CONSOLE_EXPORT_RETENTION_DAYS`` (then a daily run deletes it).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from litestar import Request, get
from litestar.response import Redirect, Stream
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from console.long_work import EXPORTS, JOB_READERS, visible_job
from console.settings import ConsoleSettings
from results.dependencies import RESULT_STORAGE
from results.storage import CHUNK
from yixiang.db import utcnow
from yixiang.domains import JobContext
from yixiang.errors import NotFound
from yixiang.long_jobs import JobStatus, LongJob, ProgressReport, start_job
from yixiang.outbox import Event


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    filename: str
    media_type: str
    rows: int


Produce = Callable[[ProgressReport], Awaitable[ExportFile]]


def as_job(request: Request[Any, Any, Any], rows: int) -> bool:
    """Whether a download of ``rows`` rows is made as a job rather than at once."""
    return rows > ConsoleSettings.of(request.app.state.settings).export_job_rows


def _new_key() -> str:
    token = secrets.token_urlsafe(32)
    return f"exports/{token[:2]}/{token}"


async def start_export(
    request: Request[Any, Any, Any],
    principal: Principal,
    *,
    kind: str,
    title: str,
    organization_id: uuid.UUID | None,
    produce: Produce,
) -> Redirect:
    """Start ``produce`` as a job that stores the file it makes; on to the job's page."""
    assert kind in EXPORTS
    runtime = request.app.state.runtime
    storage = runtime.services[RESULT_STORAGE]

    async def work(report: ProgressReport) -> dict[str, Any]:
        made = await produce(report)
        key = _new_key()
        writer = await storage.writer(key)
        try:
            for start in range(0, len(made.content), CHUNK):
                await writer.write(made.content[start : start + CHUNK])
            stored = await writer.finish()
        except BaseException:
            await writer.abort()
            raise
        return {
            "file": key,
            "filename": made.filename,
            "media_type": made.media_type,
            "size": stored.size,
            "rows": made.rows,
        }

    job_id = await start_job(
        runtime.session_maker,
        runtime.store,
        kind=kind,
        title=title[:200],
        started_by=principal.user_id,
        organization_id=organization_id,
        work=work,
    )
    return Redirect(f"/console/jobs/{job_id}", status_code=303)


async def purge_old_exports(ctx: JobContext, event: Event) -> None:
    """Delete the files of downloads made more than the retention ago (daily); their jobs stay,
    marked expired, so their pages say to download again rather than fail."""
    days = ConsoleSettings.of(ctx.settings).export_retention_days
    storage = ctx.services[RESULT_STORAGE]
    old = await ctx.session.scalars(
        select(LongJob).where(
            LongJob.kind.in_(EXPORTS),
            LongJob.status == JobStatus.done,
            LongJob.finished_at < utcnow() - timedelta(days=days),
        )
    )
    for job in old.all():
        made = dict(job.result or {})
        if made.get("file"):
            await storage.delete(str(made["file"]))
            job.result = {**made, "file": None, "expired": True}
    await ctx.session.flush()


@get("/jobs/{job_id:uuid}/file", summary="Console: the file a download job made", guards=[JOB_READERS])
async def job_file(
    request: Request[Any, Any, Any], job_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Stream:
    job = await visible_job(principal, db_session, job_id)
    made = job.result or {}
    if job.kind not in EXPORTS or job.status != JobStatus.done:
        raise NotFound("这项任务没有可下载的文件")
    storage = request.app.state.runtime.services[RESULT_STORAGE]
    if not made.get("file") or not await storage.exists(str(made["file"])):
        raise NotFound("文件已过期删除，请重新导出")
    return Stream(
        storage.read(str(made["file"])),
        media_type=str(made["media_type"]),
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(str(made['filename']))}",
            "Content-Length": str(made["size"]),
            "X-Content-Type-Options": "nosniff",
        },
    )


ROUTES = [job_file]
PURGE_TOPIC = "console.exports_purge_due"
