"""One instrument of the unit at the desk: its details, fee standard and service items edited;
its booking calendar (weekly opening hours and rules) set; closures added and removed; the
publication buttons its state machine offers the user.

Each form is the service the API calls (``catalogue.services.update_instrument``,
``booking.calendar_admin``), with the same checks; another unit's instrument is a 404 page.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from booking import calendar_admin
from booking.models import LateCancellation
from booking.schemas import CalendarIn, ClosureIn
from catalogue import services
from catalogue.access import managed_instrument
from catalogue.models import Instrument, PriceUnit, ServiceMode
from catalogue.schemas import InstrumentIn
from console.instruments import PUBLICATION_LABELS, actions_for
from console.pages import act, as_input, render
from console.provider import STAFF
from vouchers.rules import fen_to_yuan, yuan_to_fen
from yixiang.audit import snapshot
from yixiang.clock import SHANGHAI
from yixiang.db import transaction
from yixiang.errors import InvalidInput

WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
MODE_LABELS = {ServiceMode.machine_time: "机时", ServiceMode.sample_testing: "送样检测"}
UNIT_LABELS = {PriceUnit.per_hour: "元/小时", PriceUnit.per_sample: "元/样", PriceUnit.per_item: "元/项"}
LATE_LABELS = {
    LateCancellation.refuse: "截止后不可取消",
    LateCancellation.charge: "截止后取消收取违约金",
    LateCancellation.allow: "截止后可免费取消",
}
TEXT_FIELDS = (
    *("name", "name_en", "model", "manufacturer", "lab", "address", "contact_name"),
    *("contact_phone", "contact_email", "sample_requirements", "fee_basis"),
)
FLAGS = ("open_to_public", "self_operation", "operator_run", "sample_testing", "voucher_eligible")
RULES = (
    *("slot_minutes", "min_duration_minutes", "max_duration_minutes", "min_notice_minutes"),
    *("max_advance_days", "cancellation_deadline_hours", "late_cancellation_fee_percent"),
    *("buffer_minutes", "approval_window_hours", "sample_capacity_per_day"),
)
# What InstrumentIn takes of the instrument as it is (the form changes some of it).
KEPT = tuple(f for f in services.INSTRUMENT_AUDITED if f not in ("publication", "review_note"))
HOURS = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-–~至]\s*(\d{1,2}:\d{2})\s*$")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def hours_text(weekly: tuple[tuple[int, int, int], ...]) -> list[str]:
    """Each weekday's opening hours as a person types them: "08:30-12:00, 13:30-17:30"."""
    days: list[list[str]] = [[] for _ in WEEKDAYS]
    for weekday, start, end in weekly:
        days[weekday].append(f"{_hhmm(start)}-{_hhmm(end)}")
    return [", ".join(d) for d in days]


def parse_hours(texts: list[str]) -> list[dict[str, Any]]:
    found = []
    for weekday, text in enumerate(texts):
        for part in re.split(r"[,，;；\s]+(?=\d)", text.strip()) if text.strip() else []:
            matched = HOURS.match(part)
            if not matched:
                raise InvalidInput(f"{WEEKDAYS[weekday]}的开放时间格式有误：{part}（如 08:30-12:00）")
            start, end = (m.zfill(5) for m in matched.groups())
            found.append({"weekday": weekday, "start": start, "end": "24:00" if end == "00:00" else end})
    return found


def _fen(raw: str, what: str) -> int:
    try:
        return yuan_to_fen(raw)
    except ValueError as exc:
        raise InvalidInput(f"{what}金额格式有误：{raw}") from exc


def items_from_form(form: Any) -> list[dict[str, Any]]:
    """The service-item rows of the form; a row without a name is left out (the blank new row)."""
    columns = ("item_id", "item_name", "item_mode", "item_unit", "item_internal", "item_external")
    values = {c: form.getall(c) if c in form else [] for c in (*columns, "item_days", "item_active")}
    items = []
    for index, name in enumerate(values["item_name"]):
        if not str(name).strip():
            continue
        at = {c: str(v[index]) if index < len(v) else "" for c, v in values.items()}
        days = at["item_days"].strip()
        items.append(
            {
                "id": at["item_id"] or None,
                "name": at["item_name"].strip(),
                "mode": at["item_mode"],
                "price_unit": at["item_unit"],
                "internal_price_fen": _fen(at["item_internal"], f"“{name}”的校内价"),
                "external_price_fen": _fen(at["item_external"], f"“{name}”的校外价"),
                "turnaround_working_days": int(days) if days.isdigit() else None,
                "active": at["item_active"] != "0",
            }
        )
    return items


def instrument_input(instrument: Instrument, form: Any) -> InstrumentIn:
    body: dict[str, Any] = {**snapshot(instrument, KEPT), "unit_id": str(instrument.unit_id)}
    for name in TEXT_FIELDS:
        if name in form:
            body[name] = str(form.get(name, "")).strip()
    for name in FLAGS:
        body[name] = form.get(name) == "on"
    body["service_items"] = items_from_form(form)
    for item in body["service_items"]:
        # an item keeps what the form does not show
        old = next((i for i in instrument.service_items if str(i.id) == item["id"]), None)
        item["description"] = old.description if old else ""
    data: InstrumentIn = as_input(body, InstrumentIn)
    return data


@get(
    "/instruments/{instrument_id:uuid}",
    summary="Console: an instrument's details, fees, calendar",
    guards=[STAFF],
)
async def instrument_page(
    request: Request[Any, Any, Any], instrument_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Template:
    async with transaction(db_session, read_only=True):
        instrument = await managed_instrument(db_session, principal, instrument_id)
        rules = await calendar_admin.get_calendar(db_session, principal, instrument_id)
        closures = await calendar_admin.list_closures(db_session, principal, instrument_id)
    return render(
        request,
        "instrument.html",
        i=instrument,
        publication=PUBLICATION_LABELS[instrument.publication],
        actions=actions_for(principal, instrument),
        rules=rules,
        rule_fields=RULES,
        hours=list(zip(WEEKDAYS, hours_text(rules.weekly_hours), strict=True)),
        closures=closures,
        mode_labels=MODE_LABELS,
        unit_labels=UNIT_LABELS,
        late_labels=LATE_LABELS,
        fen_to_yuan=fen_to_yuan,
    )


@post(
    "/instruments/{instrument_id:uuid}/details", summary="Console: edit details, fees, items", guards=[STAFF]
)
async def save_details(
    request: Request[Any, Any, Any], instrument_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()
    here = f"/console/instruments/{instrument_id}"

    async def work() -> str:
        async with transaction(db_session):
            instrument = await managed_instrument(db_session, principal, instrument_id)
            data = instrument_input(instrument, form)
        saved = await services.update_instrument(db_session, principal, instrument_id, data)
        return f"「{saved.name}」已保存"

    return await act(here, work)


@post(
    "/instruments/{instrument_id:uuid}/calendar", summary="Console: set the booking calendar", guards=[STAFF]
)
async def save_calendar(
    request: Request[Any, Any, Any], instrument_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()

    async def work() -> str:
        body: dict[str, Any] = {
            "weekly_hours": parse_hours([str(form.get(f"hours_{d}", "")) for d in range(len(WEEKDAYS))]),
            "follows_working_days": form.get("follows_working_days") == "on",
            "needs_approval": form.get("needs_approval") == "on",
            "late_cancellation": str(form.get("late_cancellation", LateCancellation.refuse.value)),
        }
        for name in RULES:
            raw = str(form.get(name, "")).strip()
            if not raw.isdigit():
                raise InvalidInput(f"请填写整数：{name}", field=name)
            body[name] = int(raw)
        await calendar_admin.update_calendar(db_session, principal, instrument_id, as_input(body, CalendarIn))
        return "预约日历已保存"

    return await act(f"/console/instruments/{instrument_id}#calendar", work)


def _moment(raw: str, field: str) -> str:
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=SHANGHAI).isoformat()
    except ValueError as exc:
        raise InvalidInput("请填写停用的开始和结束时间", field=field) from exc


@post("/instruments/{instrument_id:uuid}/closures", summary="Console: close for a time", guards=[STAFF])
async def add_closure(
    request: Request[Any, Any, Any], instrument_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    form = await request.form()

    async def work() -> str:
        body = {
            "start": _moment(str(form.get("start", "")), "start"),
            "end": _moment(str(form.get("end", "")), "end"),
            "reason": str(form.get("reason", "")).strip()[:200],
        }
        _, affected = await calendar_admin.add_closure(
            db_session, principal, instrument_id, as_input(body, ClosureIn)
        )
        clash = f"；该时段内有 {len(affected)} 个预约，请与预约人联系" if affected else ""
        return "停用时段已添加" + clash

    return await act(f"/console/instruments/{instrument_id}#closures", work)


@post(
    "/instruments/{instrument_id:uuid}/closures/{closure_id:uuid}/remove",
    summary="Console: remove a closure",
    guards=[STAFF],
)
async def remove_closure(
    instrument_id: uuid.UUID, closure_id: uuid.UUID, principal: Principal, db_session: AsyncSession
) -> Redirect:
    async def work() -> str:
        await calendar_admin.delete_closure(db_session, principal, instrument_id, closure_id)
        return "停用时段已删除"

    return await act(f"/console/instruments/{instrument_id}#closures", work)


ROUTES = [instrument_page, save_details, save_calendar, add_closure, remove_closure]
