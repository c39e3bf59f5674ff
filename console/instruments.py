"""The unit's instruments: listed with their publication state and listing deadline (入网, in
working days), submitted, published or sent back by the unit admin, withdrawn; the monthly push
imported (all rows or none, each refused row shown with its reason) and exported.

Each action is the catalogue service the API calls (``catalogue.services.change_publication``,
``catalogue.transfer``); the buttons shown are its state machine's for the user's role."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from catalogue import services, transfer
from catalogue.errors import ImportRejected
from catalogue.models import Instrument, PublicationStatus
from catalogue.present import listing_out, load_names
from catalogue.settings import CatalogueSettings
from console.long_work import IMPORT, STATUS_LABELS
from console.pages import act, render
from console.provider import STAFF, desk_unit
from console.tables import Column, read_table
from yixiang.db import transaction, utcnow
from yixiang.errors import DomainError, InvalidInput
from yixiang.long_jobs import JobFailed, ProgressReport, recent_jobs, start_job
from yixiang.openapi import CSV, XLSX

PUBLICATION_LABELS = {
    PublicationStatus.draft: "草稿",
    PublicationStatus.pending: "待单位审核",
    PublicationStatus.published: "已公开",
    PublicationStatus.withdrawn: "已下线",
}
ACTION_LABELS = {"submit": "提交审核", "approve": "审核发布", "reject": "退回修改", "withdraw": "下线"}
COLUMNS = (
    Column("name", "仪器"),
    Column("model", "型号"),
    Column("value", "原值（元）"),
    Column("publication", "状态"),
    Column("listing", "入网期限"),
)


def actions_for(principal: Principal, instrument: Instrument) -> list[tuple[str, str]]:
    """The publication actions the user may take on the instrument now (catalogue's table)."""
    return [
        (action, ACTION_LABELS[action])
        for action, (sources, _, roles) in services.TRANSITIONS.items()
        if instrument.publication in sources and instrument.unit_id in principal.orgs_where(*roles)
    ]


async def _page(
    request: Request[Any, Any, Any],
    principal: Principal,
    db_session: AsyncSession,
    *,
    import_errors: list[dict[str, Any]] | None = None,
    import_message: str = "",
    status_code: int = 200,
) -> Template:
    query = dict(request.query_params)
    table = read_table(
        query, COLUMNS, default_sort="created", default_descending=True, filters=("unit", "publication")
    )
    unit_id = desk_unit(principal, query)
    wanted = table.filters.get("publication", "")
    publication = PublicationStatus(wanted) if wanted in PublicationStatus.__members__ else None
    async with transaction(db_session, read_only=True):
        rows, table.total = await services.unit_instruments(
            db_session,
            principal,
            unit_id=unit_id,
            publication=publication,
            offset=table.offset,
            limit=table.per_page,
        )
        names = await load_names(db_session, [unit_id])
        imports = await recent_jobs(db_session, kind=IMPORT, organization_ids={unit_id}, limit=5)
    threshold = int(CatalogueSettings.of(request.app.state.settings).listing_value_threshold_fen)
    return render(
        request,
        "instruments.html",
        status_code=status_code,
        table=table,
        rows=[(i, listing_out(i, names, threshold), actions_for(principal, i)) for i in rows],
        labels=PUBLICATION_LABELS,
        publication=wanted,
        unit_id=unit_id,
        import_errors=import_errors,
        import_message=import_message,
        imports=imports,
        job_labels=STATUS_LABELS,
    )


@get("/instruments", summary="Console: the unit's instruments and their listing", guards=[STAFF])
async def instruments(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    return await _page(request, principal, db_session)


@post("/instruments/import", summary="Console: import the monthly push (all rows or none)", guards=[STAFF])
async def import_push(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template | Redirect:
    """The import runs as a job: its page shows the rows' progress, then the counts or every
    refused row with its reason (nothing is imported then)."""
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return await _page(
            request, principal, db_session, import_message="请选择要导入的文件", status_code=400
        )
    content, filename = await upload.read(), upload.filename or ""
    unit_id = services.resolve_unit(principal, desk_unit(principal, {}))
    runtime = request.app.state.runtime

    async def work(report: ProgressReport) -> dict[str, Any]:
        async with runtime.session_maker() as session:
            try:
                created, updated, _ = await transfer.import_instruments(
                    session, principal, content, filename, unit_id, progress=report
                )
            except ImportRejected as exc:  # every refused row, in a table on the job's page
                raise JobFailed(exc.message, {"errors": exc.details.get("errors", [])}) from exc
            except DomainError as exc:
                raise JobFailed(exc.message) from exc
        return {"created": created, "updated": updated}

    job_id = await start_job(
        runtime.session_maker,
        runtime.store,
        kind=IMPORT,
        title=f"导入月报：{filename}"[:200],
        started_by=principal.user_id,
        organization_id=unit_id,
        work=work,
    )
    return Redirect(f"/console/jobs/{job_id}", status_code=303)


@get(
    "/instruments/export",
    summary="Console: the unit's instruments in the monthly push format",
    guards=[STAFF],
)
async def export(
    request: Request[Any, Any, Any],
    principal: Principal,
    db_session: AsyncSession,
    format: Literal["csv", "xlsx"] = "xlsx",
) -> Response[bytes]:
    unit_id = desk_unit(principal, dict(request.query_params))
    async with transaction(db_session, read_only=True):
        rows = transfer.export_rows(
            await transfer.unit_instruments_for_export(db_session, principal, unit_id)
        )
    content, media = (transfer.to_xlsx(rows), XLSX) if format == "xlsx" else (transfer.to_csv(rows), CSV)
    stamp = utcnow().strftime("%Y%m")
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="instruments-{stamp}.{format}"'},
    )


@post(
    "/instruments/{instrument_id:uuid}/{action:str}",
    summary="Console: submit, publish, send back, withdraw",
    guards=[STAFF],
)
async def publication(
    request: Request[Any, Any, Any],
    instrument_id: uuid.UUID,
    action: str,
    principal: Principal,
    db_session: AsyncSession,
) -> Redirect:
    if action not in ACTION_LABELS:
        raise InvalidInput("未知的操作", action=action[:40])
    form = await request.form()

    async def work() -> str:
        instrument = await services.change_publication(
            db_session, principal, instrument_id, action, str(form.get("note", ""))[:500]
        )
        now = PUBLICATION_LABELS[instrument.publication]
        return f"「{instrument.name}」{ACTION_LABELS[action]}，当前状态「{now}」"

    return await act("/console/instruments", work)


ROUTES = [instruments, import_push, export, publication]
