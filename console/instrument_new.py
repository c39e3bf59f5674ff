"""A new instrument at the unit's desk (新增仪器): the form of the provider API's create, checked by
the same Struct and the same catalogue service (``catalogue.services.create_instrument``); then
straight on to the new draft's own page, where its calendar is set and it is submitted.

A refused form comes back with what was typed and each mistake beside its field, in Chinese:
msgspec's bounds through :mod:`yixiang.field_errors` (every bad field at once, as the API names
them), the catalogue's rules (category, region, dates, service items) from the service's refusal.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import STAFF_ROLES
from catalogue import services
from catalogue.models import Origin
from catalogue.schemas import InstrumentIn
from console.instrument_edit import FLAGS, MODE_LABELS, TEXT_FIELDS, UNIT_LABELS, items_from_form
from console.names import leaf_categories
from console.pages import back_to, render
from console.provider import STAFF
from vouchers.rules import yuan_to_fen
from yixiang.db import transaction
from yixiang.errors import Conflict, InvalidInput
from yixiang.field_errors import describe, field_errors

ORIGIN_LABELS = {Origin.domestic: "国产", Origin.imported: "进口"}
# A new instrument offers every service until the form says otherwise (the API's defaults).
NEW_FLAGS = {"open_to_public": True, "operator_run": True, "sample_testing": True, "voucher_eligible": True}
DATES = ("purchase_date", "acceptance_date")
ITEM_COLUMNS = ("item_name", "item_mode", "item_unit", "item_internal", "item_external", "item_days")
BLANK_ITEM_ROWS = 2
# The fields the form shows, each with its mistake beside it; any other is listed above the form.
PLACED = {*TEXT_FIELDS, *FLAGS, *DATES, "category_code", "region_code", "origin", "unit_id"}
PLACED |= {"asset_number", "original_value_fen"}


def _units(principal: Principal) -> list[tuple[str, str, str]]:
    """(id, name, region code) of each unit the user is staff of, in a stable order."""
    seen = {
        m.organization_id: (str(m.organization_id), m.organization_name, m.region_code)
        for m in principal.memberships
        if m.role in STAFF_ROLES
    }
    return sorted(seen.values(), key=lambda unit: unit[1])


def _body(form: Any, errors: dict[str, str]) -> dict[str, Any]:
    """The form as the API's body; what cannot even be read as the API's type is noted in ``errors``."""
    body: dict[str, Any] = {name: str(form.get(name, "")).strip() for name in TEXT_FIELDS}
    for name in ("category_code", "region_code", "origin", "unit_id"):
        body[name] = str(form.get(name, "")).strip()
    asset = str(form.get("asset_number", "")).strip()
    body["asset_number"] = asset or None
    for name in DATES:
        if str(form.get(name, "")).strip():
            body[name] = str(form.get(name)).strip()
    for name in FLAGS:
        body[name] = form.get(name) == "on"
    raw_value = str(form.get("original_value_yuan", "")).strip()
    try:
        body["original_value_fen"] = yuan_to_fen(raw_value)
    except ValueError:
        errors["original_value_fen"] = "请填写金额（元，最多两位小数）"
        body["original_value_fen"] = 0
    try:
        body["service_items"] = items_from_form(form)
    except InvalidInput as exc:  # a price that is not an amount
        errors["service_items"] = exc.message
        body["service_items"] = []
    for item in body["service_items"]:
        del item["id"]  # all new
        item["description"] = ""
    return body


def _errors_of(exc: InvalidInput | Conflict) -> dict[str, str]:
    fields = exc.details.get("fields") or [{"field": exc.details.get("field") or "", "reason": exc.message}]
    if "asset_number" in exc.details:
        fields = [{"field": "asset_number", "reason": exc.message}]
    found: dict[str, str] = {}
    for f in fields:
        found.setdefault(str(f.get("field") or ""), str(f.get("reason") or exc.message))
    return found


def _item_rows(form: Any) -> list[dict[str, str]]:
    """The service-item rows as typed (a refused form shows them again), and blank rows to add."""
    typed = {
        c: [str(v) for v in form.getall(c)] if form is not None and c in form else [] for c in ITEM_COLUMNS
    }
    count = len(typed["item_name"])
    rows = [{c: (v[i] if i < len(v) else "") for c, v in typed.items()} for i in range(count)]
    rows = [r for r in rows if r["item_name"].strip()]
    return rows + [dict.fromkeys(ITEM_COLUMNS, "") for _ in range(BLANK_ITEM_ROWS)]


def _item_errors(errors: dict[str, str], body: dict[str, Any]) -> list[str]:
    """The service items' mistakes, each named by its item (``service_items[1].mode``)."""
    found = []
    for path, message in errors.items():
        if not path.startswith("service_items"):
            continue
        index = path.removeprefix("service_items[").partition("]")[0]
        items = body.get("service_items") or []
        named = items[int(index)]["name"] if index.isdigit() and int(index) < len(items) else ""
        found.append(f"收费项目“{named}”：{message}" if named else message)
    return found


async def _form_page(
    request: Request[Any, Any, Any],
    principal: Principal,
    db_session: AsyncSession,
    *,
    values: dict[str, Any],
    form: Any = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    errors = errors or {}
    async with transaction(db_session, read_only=True):
        categories = await leaf_categories(db_session)
    return render(
        request,
        "instrument_new.html",
        status_code=status_code,
        v=values,
        errors=errors,
        item_errors=_item_errors(errors, values),
        other_errors=[m for f, m in errors.items() if f not in PLACED and not f.startswith("service_items")],
        item_rows=_item_rows(form),
        units=_units(principal),
        categories=categories,
        origins=ORIGIN_LABELS,
        mode_labels=MODE_LABELS,
        unit_labels=UNIT_LABELS,
    )


@get("/instruments/new", summary="Console: the form for a new instrument", guards=[STAFF])
async def new_instrument(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    units = _units(principal)
    values: dict[str, Any] = {**NEW_FLAGS, "origin": Origin.domestic.value, "service_items": []}
    if units:  # the region of the (first) unit, which most of its instruments share
        values |= {"unit_id": units[0][0], "region_code": units[0][2]}
    return await _form_page(request, principal, db_session, values=values)


@post("/instruments", summary="Console: create an instrument (a draft)", guards=[STAFF])
async def create_instrument(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template | Redirect:
    form = await request.form()
    errors: dict[str, str] = {}
    body = _body(form, errors)
    if not body["unit_id"]:
        body["unit_id"] = None  # the caller's only unit (the service refuses if there are several)
    shown = {**body, "original_value_yuan": str(form.get("original_value_yuan", "")).strip()}
    for error in field_errors(body, InstrumentIn):
        errors.setdefault(error.path, describe(error.reason)[1])
    if errors:
        return await _form_page(
            request, principal, db_session, values=shown, form=form, errors=errors, status_code=400
        )
    data = msgspec.convert(body, InstrumentIn)
    try:
        made = await services.create_instrument(db_session, principal, data)
    except (InvalidInput, Conflict) as exc:  # the catalogue's rules; a unit not theirs stays a 403
        return await _form_page(
            request,
            principal,
            db_session,
            values=shown,
            form=form,
            errors=_errors_of(exc),
            status_code=exc.status,
        )
    return back_to(
        f"/console/instruments/{made.id}",
        ok=f"已新增「{made.name}」（草稿）：可继续设置预约日历，完成后提交审核",
    )


ROUTES = [new_instrument, create_instrument]
