"""Catalogue operations: create and edit instruments, the publication workflow, reading them.

Provider staff and unit admins of the holding unit edit; only a unit admin approves publication
(draft → pending → published; rejected goes back to draft; withdrawn hides it). Every change
emits ``catalogue.instrument_changed`` in the same transaction (the search index follows it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import STAFF_ROLES, Region, Role
from catalogue.access import managed_instrument
from catalogue.errors import (
    AssetNumberTaken,
    InvalidInstrument,
    InvalidPublicationTransition,
    NotUnitAdmin,
    NotUnitStaff,
    UnknownCategory,
    UnknownRegion,
)
from catalogue.events import emit_instruments_changed
from catalogue.models import (
    Category,
    Instrument,
    PriceUnit,
    PublicationStatus,
    ServiceItem,
    ServiceMode,
)
from catalogue.schemas import InstrumentIn, ServiceItemIn
from yixiang.audit import record_change, snapshot
from yixiang.db import transaction, utcnow
from yixiang.errors import InvalidInput

# action -> (from states, to state, roles allowed in the instrument's unit)
TRANSITIONS: dict[str, tuple[frozenset[PublicationStatus], PublicationStatus, tuple[Role, ...]]] = {
    "submit": (
        frozenset({PublicationStatus.draft, PublicationStatus.withdrawn}),
        PublicationStatus.pending,
        STAFF_ROLES,
    ),
    "approve": (frozenset({PublicationStatus.pending}), PublicationStatus.published, (Role.unit_admin,)),
    "reject": (frozenset({PublicationStatus.pending}), PublicationStatus.draft, (Role.unit_admin,)),
    "withdraw": (
        frozenset({PublicationStatus.published, PublicationStatus.pending}),
        PublicationStatus.withdrawn,
        STAFF_ROLES,
    ),
}


# --- validation (pure) ----------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    field: str
    message: str


@dataclass(frozen=True)
class Reference:
    """What validation needs to know about the database: leaf categories and region codes."""

    leaf_categories: frozenset[str]
    regions: frozenset[str]


def check_instrument(data: InstrumentIn, ref: Reference) -> list[Problem]:
    problems: list[Problem] = []
    if data.category_code not in ref.leaf_categories:
        problems.append(Problem("category_code", f"分类代码 {data.category_code} 不存在或不是二级分类"))
    if data.region_code not in ref.regions:
        problems.append(Problem("region_code", f"行政区划代码 {data.region_code} 不存在"))
    if data.purchase_date and data.acceptance_date and data.purchase_date > data.acceptance_date:
        problems.append(Problem("acceptance_date", "验收日期不能早于购置日期"))
    if (data.latitude is None) != (data.longitude is None):
        problems.append(Problem("latitude", "经纬度须同时填写"))
    machine_time = data.self_operation or data.operator_run
    seen: set[str] = set()
    for index, item in enumerate(data.service_items):
        where = f"service_items[{index}]"
        if item.name in seen:
            problems.append(Problem(f"{where}.name", f"收费项目“{item.name}”重复"))
        seen.add(item.name)
        if item.mode == ServiceMode.machine_time:
            if not machine_time:
                problems.append(Problem(f"{where}.mode", "仪器未开放机时服务，不能设置机时收费项目"))
            if item.price_unit != PriceUnit.per_hour:
                problems.append(Problem(f"{where}.price_unit", "机时项目须按小时计价"))
        elif not data.sample_testing:
            problems.append(Problem(f"{where}.mode", "仪器未开放送样检测，不能设置送样收费项目"))
        elif item.price_unit == PriceUnit.per_hour:
            problems.append(Problem(f"{where}.price_unit", "送样检测项目须按样品或项目计价"))
    return problems


async def load_reference(session: AsyncSession) -> Reference:
    leaves = (await session.scalars(select(Category.code).where(Category.parent_code.is_not(None)))).all()
    regions = (await session.scalars(select(Region.code))).all()
    return Reference(frozenset(leaves), frozenset(regions))


def _raise_problems(problems: Sequence[Problem]) -> None:
    if not problems:
        return
    first = problems[0]
    fields = [{"field": p.field, "reason": p.message} for p in problems]
    if first.field == "category_code":
        raise UnknownCategory(first.message, fields=fields)
    if first.field == "region_code":
        raise UnknownRegion(first.message, fields=fields)
    raise InvalidInstrument(first.message, fields=fields)


# --- who may do what ------------------------------------------------------------------------
def resolve_unit(principal: Principal, unit_id: uuid.UUID | None) -> uuid.UUID:
    units = principal.orgs_where(*STAFF_ROLES)
    if unit_id is None:
        if len(units) != 1:
            raise InvalidInput("请指定管理单位（unit_id）", field="unit_id")
        return next(iter(units))
    if unit_id not in units:
        raise NotUnitStaff()
    return unit_id


# --- the audit trail: an instrument's fields, fee standard and service items before and after ----
INSTRUMENT_AUDITED = (
    *("asset_number", "name", "name_en", "aliases", "model", "manufacturer", "origin", "category_code"),
    *("original_value_fen", "purchase_date", "acceptance_date", "lab", "address", "region_code"),
    *("latitude", "longitude", "status", "open_to_public", "self_operation", "operator_run"),
    *("sample_testing", "specifications", "sample_requirements", "photos", "contact_name"),
    *("contact_phone", "contact_email", "voucher_eligible", "customs_supervised_until", "fee_basis"),
    *("publication", "review_note"),
)
SERVICE_ITEM_AUDITED = (
    *("name", "mode", "price_unit", "internal_price_fen", "external_price_fen"),
    *("turnaround_working_days", "description", "active"),
)

Snapshot = tuple[dict[str, Any] | None, dict[uuid.UUID, dict[str, Any]]]


def instrument_snapshot(instrument: Instrument | None) -> Snapshot:
    """The instrument and its service items as the audit trail compares them (None: a new one)."""
    if instrument is None:
        return None, {}
    items = {item.id: snapshot(item, SERVICE_ITEM_AUDITED) for item in instrument.service_items}
    return snapshot(instrument, INSTRUMENT_AUDITED), items


async def record_instrument_change(
    session: AsyncSession, actor_id: uuid.UUID, instrument: Instrument, before: Snapshot, action: str
) -> None:
    after = instrument_snapshot(instrument)
    await record_change(
        session,
        actor_id=actor_id,
        entity_type="instrument",
        entity_id=instrument.id,
        action=action,
        before=before[0],
        after=after[0],
    )
    for item_id, item_after in after[1].items():
        item_before = before[1].get(item_id)
        await record_change(
            session,
            actor_id=actor_id,
            entity_type="service_item",
            entity_id=item_id,
            action="updated" if item_before is not None else "created",
            before=item_before,
            after={**item_after, "instrument_id": str(instrument.id)} if item_before is None else item_after,
        )


# --- changes --------------------------------------------------------------------------------
def apply_fields(instrument: Instrument, data: InstrumentIn, unit_id: uuid.UUID) -> None:
    fields: dict[str, Any] = {
        "asset_number": data.asset_number,
        "name": data.name.strip(),
        "name_en": data.name_en.strip(),
        "aliases": [a.strip() for a in data.aliases],
        "model": data.model.strip(),
        "manufacturer": data.manufacturer.strip(),
        "origin": data.origin,
        "category_code": data.category_code,
        "original_value_fen": data.original_value_fen,
        "purchase_date": data.purchase_date,
        "acceptance_date": data.acceptance_date,
        "unit_id": unit_id,
        "lab": data.lab,
        "address": data.address,
        "region_code": data.region_code,
        "latitude": data.latitude,
        "longitude": data.longitude,
        "status": data.status,
        "open_to_public": data.open_to_public,
        "self_operation": data.self_operation,
        "operator_run": data.operator_run,
        "sample_testing": data.sample_testing,
        "specifications": dict(data.specifications),
        "sample_requirements": data.sample_requirements,
        "photos": list(data.photos),
        "contact_name": data.contact_name,
        "contact_phone": data.contact_phone,
        "contact_email": data.contact_email,
        "voucher_eligible": data.voucher_eligible,
        "customs_supervised_until": data.customs_supervised_until,
        "fee_basis": data.fee_basis,
    }
    for name, value in fields.items():
        setattr(instrument, name, value)


def apply_items(
    instrument: Instrument, items: Sequence[ServiceItemIn], *, match_by_name: bool = False
) -> None:
    """Update items in place (by id, or by name for imports), add new ones, deactivate the rest."""
    existing = list(instrument.service_items)
    by_id = {item.id: item for item in existing}
    by_name = {item.name: item for item in existing}
    kept: set[uuid.UUID] = set()
    for position, data in enumerate(items):
        target = by_id.get(data.id) if data.id else (by_name.get(data.name) if match_by_name else None)
        if data.id and target is None:
            raise InvalidInput("收费项目不属于该仪器", field=f"service_items[{position}].id")
        if target is None:
            target = ServiceItem(id=uuid.uuid4())
            instrument.service_items.append(target)
        kept.add(target.id)
        target.position = position
        target.name = data.name.strip()
        target.mode = data.mode
        target.price_unit = data.price_unit
        target.internal_price_fen = data.internal_price_fen
        target.external_price_fen = data.external_price_fen
        target.turnaround_working_days = data.turnaround_working_days
        target.description = data.description
        target.active = data.active
        target.duty = data.duty
    for item in existing:
        if item.id not in kept:
            item.active = False
            item.position = len(items) + item.position


async def _check_asset_number(
    session: AsyncSession, unit_id: uuid.UUID, asset_number: str | None, instrument_id: uuid.UUID | None
) -> None:
    if not asset_number:
        return
    other = await session.scalar(
        select(Instrument.id).where(Instrument.unit_id == unit_id, Instrument.asset_number == asset_number)
    )
    if other is not None and other != instrument_id:
        raise AssetNumberTaken(asset_number=asset_number)


async def create_instrument(session: AsyncSession, principal: Principal, data: InstrumentIn) -> Instrument:
    unit_id = resolve_unit(principal, data.unit_id)
    async with transaction(session):
        _raise_problems(check_instrument(data, await load_reference(session)))
        await _check_asset_number(session, unit_id, data.asset_number, None)
        instrument = Instrument(id=uuid.uuid4(), publication=PublicationStatus.draft, service_items=[])
        apply_fields(instrument, data, unit_id)
        apply_items(instrument, data.service_items)
        instrument.updated_by = principal.user_id
        session.add(instrument)
        await session.flush()
        await record_instrument_change(session, principal.user_id, instrument, (None, {}), "created")
        await emit_instruments_changed(session, [instrument.id], "created")
    return instrument


async def update_instrument(
    session: AsyncSession, principal: Principal, instrument_id: uuid.UUID, data: InstrumentIn
) -> Instrument:
    async with transaction(session):
        instrument = await managed_instrument(session, principal, instrument_id, for_update=True)
        unit_id = instrument.unit_id if data.unit_id is None else data.unit_id
        if unit_id != instrument.unit_id:
            raise InvalidInput("不能更改仪器的管理单位", field="unit_id")
        _raise_problems(check_instrument(data, await load_reference(session)))
        await _check_asset_number(session, unit_id, data.asset_number, instrument.id)
        before = instrument_snapshot(instrument)
        apply_fields(instrument, data, unit_id)
        apply_items(instrument, data.service_items)
        instrument.updated_by = principal.user_id
        instrument.updated_at = utcnow()
        await session.flush()
        await record_instrument_change(session, principal.user_id, instrument, before, "updated")
        await emit_instruments_changed(session, [instrument.id], "edited")
    return instrument


async def change_publication(
    session: AsyncSession, principal: Principal, instrument_id: uuid.UUID, action: str, note: str = ""
) -> Instrument:
    sources, target, roles = TRANSITIONS[action]
    async with transaction(session):
        instrument = await managed_instrument(session, principal, instrument_id, for_update=True)
        if instrument.unit_id not in principal.orgs_where(*roles):
            raise NotUnitAdmin() if roles == (Role.unit_admin,) else NotUnitStaff()
        if instrument.publication not in sources:
            raise InvalidPublicationTransition(action=action, publication=instrument.publication.value)
        now = utcnow()
        before = instrument_snapshot(instrument)
        instrument.publication = target
        if action == "submit":
            instrument.submitted_at = now
        if action in ("approve", "reject"):
            instrument.reviewed_by = principal.user_id
            instrument.review_note = note
        if target == PublicationStatus.published and instrument.published_at is None:
            instrument.published_at = now  # the first listing counts for the deadline
        instrument.updated_by = principal.user_id
        instrument.updated_at = now
        await session.flush()
        await record_instrument_change(session, principal.user_id, instrument, before, action)
        await emit_instruments_changed(session, [instrument.id], action)
    return instrument


# --- reading --------------------------------------------------------------------------------
async def unit_instruments(
    session: AsyncSession,
    principal: Principal,
    *,
    unit_id: uuid.UUID | None,
    publication: PublicationStatus | None,
    offset: int,
    limit: int,
) -> tuple[list[Instrument], int]:
    units = principal.orgs_where(*STAFF_ROLES)
    if not units:
        raise NotUnitStaff()
    if unit_id is not None:
        if unit_id not in units:
            raise NotUnitStaff()
        units = {unit_id}
    where: list[Any] = [Instrument.unit_id.in_(units)]
    if publication is not None:
        where.append(Instrument.publication == publication)
    total = int(await session.scalar(select(func.count()).select_from(Instrument).where(*where)) or 0)
    rows = (
        await session.scalars(
            select(Instrument)
            .where(*where)
            .order_by(Instrument.created_at.desc(), Instrument.id)
            .offset(offset)
            .limit(limit)
        )
    ).all()
    return list(rows), total
