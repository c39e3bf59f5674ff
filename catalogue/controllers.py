"""HTTP routes of the catalogue: public instrument pages, provider CRUD and publication, the monthly
push import/export, categories, and the platform admin's working-day overrides."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_role, requires_user
from accounts.models import STAFF_ROLES, Role
from catalogue import services, transfer, workdays
from catalogue.access import is_staff_of, managed_instrument, visible_instrument
from catalogue.categories import categories as category_rows
from catalogue.live import LIVE_STATUS
from catalogue.models import PublicationStatus
from catalogue.present import instrument_out, live_out, load_names, summary_out
from catalogue.schemas import (
    CategoryOut,
    ImportReport,
    InstrumentIn,
    InstrumentOut,
    InstrumentPage,
    ReviewIn,
    WorkingDayIn,
    WorkingDayOut,
)
from catalogue.settings import CatalogueSettings
from catalogue.workdays import WorkingDayOverride
from yixiang.db import transaction, utcnow
from yixiang.errors import InvalidInput, NotFound
from yixiang.openapi import CSV, XLSX, files
from yixiang.replicas import REPLICA_READS


def _threshold(request: Request[Any, Any, Any]) -> int:
    return int(CatalogueSettings.of(request.app.state.settings).listing_value_threshold_fen)


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        offset = int(value)
        if kind != "o" or not 0 <= offset <= 1_000_000:
            raise ValueError
        return offset
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("分页游标无效", field="cursor") from exc


async def _describe(
    db_session: AsyncSession,
    request: Request[Any, Any, Any],
    instrument: Any,
    *,
    show_contact: bool,
    staff: bool,
) -> InstrumentOut:
    names = await load_names(db_session, [instrument.unit_id])
    out = instrument_out(
        instrument, names, _threshold(request), show_contact=show_contact, show_inactive=staff
    )
    reader = request.app.state.services.get(LIVE_STATUS)
    if reader is None:
        return out
    status = (await reader.statuses(db_session, [instrument.id]))[instrument.id]
    return msgspec.structs.replace(out, live=live_out(status))


class InstrumentController(Controller):
    path = "/api/v1"
    tags = ["catalogue"]

    @get(
        "/instruments/{instrument_id:uuid}",
        summary="An instrument with its service items and fee standard",
        opt={REPLICA_READS: True},
    )
    async def show(
        self,
        instrument_id: uuid.UUID,
        request: Request[Any, Any, Any],
        maybe_principal: Principal | None,
        db_session: AsyncSession,
    ) -> InstrumentOut:
        async with transaction(db_session, read_only=True):
            instrument = await visible_instrument(db_session, maybe_principal, instrument_id)
            staff = is_staff_of(maybe_principal, instrument.unit_id)
            return await _describe(
                db_session, request, instrument, show_contact=maybe_principal is not None, staff=staff
            )

    @get("/instrument-categories", summary="The two-level instrument classification")
    async def categories(self) -> list[CategoryOut]:
        rows = category_rows()
        children: dict[str, list[CategoryOut]] = {}
        for row in rows:
            if row["parent_code"]:
                children.setdefault(str(row["parent_code"]), []).append(
                    CategoryOut(
                        code=str(row["code"]), name=str(row["name"]), name_en=str(row["name_en"]), children=[]
                    )
                )
        return [
            CategoryOut(
                code=str(r["code"]),
                name=str(r["name"]),
                name_en=str(r["name_en"]),
                children=children.get(str(r["code"]), []),
            )
            for r in rows
            if not r["parent_code"]
        ]


class ProviderInstrumentController(Controller):
    path = "/api/v1/provider/instruments"
    tags = ["catalogue: provider"]
    guards = [requires_role(*STAFF_ROLES)]

    @get("/", summary="Instruments of my unit (every publication state)")
    async def index(
        self,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
        unit: uuid.UUID | None = None,
        publication: PublicationStatus | None = None,
        cursor: str | None = None,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
    ) -> InstrumentPage:
        offset = decode_offset(cursor)
        async with transaction(db_session, read_only=True):
            rows, total = await services.unit_instruments(
                db_session, principal, unit_id=unit, publication=publication, offset=offset, limit=limit
            )
            names = await load_names(db_session, list({r.unit_id for r in rows}))
        threshold = _threshold(request)
        return InstrumentPage(
            items=[summary_out(r, names, threshold) for r in rows],
            total=total,
            next_cursor=encode_offset(offset + limit) if offset + limit < total else None,
        )

    @post("/", summary="Create an instrument (a draft)")
    async def create(
        self,
        data: InstrumentIn,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
    ) -> InstrumentOut:
        instrument = await services.create_instrument(db_session, principal, data)
        async with transaction(db_session):
            return await _describe(db_session, request, instrument, show_contact=True, staff=True)

    @get("/export", summary="Export my unit's instruments in the monthly push format", opt=files(CSV, XLSX))
    async def export(
        self,
        principal: Principal,
        db_session: AsyncSession,
        unit: uuid.UUID | None = None,
        format: Annotated[str, Parameter(pattern="^(csv|xlsx)$")] = "csv",
    ) -> Response[bytes]:
        async with transaction(db_session, read_only=True):
            instruments = await transfer.unit_instruments_for_export(db_session, principal, unit)
            rows = transfer.export_rows(instruments)
        stamp = utcnow().strftime("%Y%m")
        if format == "xlsx":
            return Response(
                transfer.to_xlsx(rows),
                media_type=XLSX,
                headers={"Content-Disposition": f'attachment; filename="instruments-{stamp}.xlsx"'},
            )
        return Response(
            transfer.to_csv(rows),
            media_type=CSV,
            headers={"Content-Disposition": f'attachment; filename="instruments-{stamp}.csv"'},
        )

    @post("/import", status_code=200, summary="Import a monthly push file (CSV or XLSX); all rows or none")
    async def import_file(
        self,
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
        principal: Principal,
        db_session: AsyncSession,
        unit: uuid.UUID | None = None,
    ) -> ImportReport:
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("请上传文件（表单字段 file）", field="file")
        content = await upload.read()
        created, updated, ids = await transfer.import_instruments(
            db_session, principal, content, upload.filename or "", unit
        )
        return ImportReport(rows=created + updated, created=created, updated=updated, instrument_ids=ids)

    @get("/{instrument_id:uuid}", summary="One of my unit's instruments")
    async def show(
        self,
        instrument_id: uuid.UUID,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
    ) -> InstrumentOut:
        async with transaction(db_session, read_only=True):
            instrument = await managed_instrument(db_session, principal, instrument_id)
            return await _describe(db_session, request, instrument, show_contact=True, staff=True)

    @put("/{instrument_id:uuid}", summary="Replace an instrument's record")
    async def update(
        self,
        instrument_id: uuid.UUID,
        data: InstrumentIn,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
    ) -> InstrumentOut:
        instrument = await services.update_instrument(db_session, principal, instrument_id, data)
        async with transaction(db_session):
            return await _describe(db_session, request, instrument, show_contact=True, staff=True)

    async def _transition(
        self,
        action: str,
        instrument_id: uuid.UUID,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
        note: str = "",
    ) -> InstrumentOut:
        instrument = await services.change_publication(db_session, principal, instrument_id, action, note)
        async with transaction(db_session):
            return await _describe(db_session, request, instrument, show_contact=True, staff=True)

    @post("/{instrument_id:uuid}/submit", status_code=200, summary="Staff: submit for publication")
    async def submit(
        self,
        instrument_id: uuid.UUID,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
    ) -> InstrumentOut:
        return await self._transition("submit", instrument_id, request, principal, db_session)

    @post("/{instrument_id:uuid}/approve", status_code=200, summary="Unit admin: publish")
    async def approve(
        self,
        instrument_id: uuid.UUID,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
        data: ReviewIn | None = None,
    ) -> InstrumentOut:
        note = data.note if data else ""
        return await self._transition("approve", instrument_id, request, principal, db_session, note)

    @post("/{instrument_id:uuid}/reject", status_code=200, summary="Unit admin: send back to draft")
    async def reject(
        self,
        instrument_id: uuid.UUID,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
        data: ReviewIn | None = None,
    ) -> InstrumentOut:
        note = data.note if data else ""
        return await self._transition("reject", instrument_id, request, principal, db_session, note)

    @post("/{instrument_id:uuid}/withdraw", status_code=200, summary="Staff: take off the platform")
    async def withdraw(
        self,
        instrument_id: uuid.UUID,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
    ) -> InstrumentOut:
        return await self._transition("withdraw", instrument_id, request, principal, db_session)


class WorkingDayController(Controller):
    """Holiday arrangements for years chinesecalendar does not know, and corrections."""

    path = "/api/v1/admin/working-days"
    tags = ["admin"]
    guards = [requires_user, requires_role(Role.platform_admin)]

    @get("/", summary="Working-day overrides of a year")
    async def index(
        self, db_session: AsyncSession, year: Annotated[int, Parameter(ge=2000, le=2100)]
    ) -> list[WorkingDayOut]:
        async with transaction(db_session, read_only=True):
            return [_day_out(r) for r in await workdays.year_overrides(db_session, year)]

    @put("/{day:date}", summary="Declare a day a holiday or a (make-up) working day")
    async def set_day(
        self, day: date, data: WorkingDayIn, principal: Principal, db_session: AsyncSession
    ) -> WorkingDayOut:
        async with transaction(db_session):
            row = await workdays.set_override(
                db_session,
                day,
                is_working_day=data.is_working_day,
                name=data.name,
                actor_id=principal.user_id,
            )
            return _day_out(row)

    @delete("/{day:date}", summary="Remove an override (the built-in calendar applies again)")
    async def remove(self, day: date, principal: Principal, db_session: AsyncSession) -> None:
        async with transaction(db_session):
            if not await workdays.remove_override(db_session, day, actor_id=principal.user_id):
                raise NotFound("该日期没有设置", day=day.isoformat())


def _day_out(row: WorkingDayOverride) -> WorkingDayOut:
    return WorkingDayOut(
        day=row.day, is_working_day=row.is_working_day, name=row.name, updated_at=row.updated_at
    )
