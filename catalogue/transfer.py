"""The monthly push (月度推送): import and export instruments in one fixed format, CSV or XLSX.

The format is documented in ``IMPORT_FORMAT.md`` beside this file; ``COLUMNS`` is its source of
truth. An import is all or nothing: every row is checked first, and one bad row rejects the file
with a report naming each bad row and field. Rows are matched to existing instruments of the unit
by asset number (资产编号); service items by name.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Role
from catalogue.errors import ImportRejected, UnreadableImportFile
from catalogue.events import emit_instruments_changed
from catalogue.models import (
    DUTY_LABELS,
    Instrument,
    InstrumentStatus,
    Origin,
    PriceUnit,
    PublicationStatus,
    ServiceDuty,
    ServiceMode,
)
from catalogue.schemas import InstrumentIn, ServiceItemIn
from catalogue.services import (
    Snapshot,
    apply_fields,
    apply_items,
    check_instrument,
    instrument_snapshot,
    load_reference,
    record_instrument_change,
    resolve_unit,
)
from yixiang.db import transaction, utcnow

MAX_ROWS = 5000

YES, NO = "是", "否"
ORIGINS = {"国产": Origin.domestic, "进口": Origin.imported}
STATUSES = {
    "在用": InstrumentStatus.in_service,
    "维修": InstrumentStatus.maintenance,
    "报废": InstrumentStatus.retired,
}
MODES = {"机时": ServiceMode.machine_time, "送样": ServiceMode.sample_testing}
# 收费项目's optional 7th cell: the item is duty, not open sharing (no sharing reward)
DUTIES = {label: duty for duty, label in DUTY_LABELS.items() if duty != ServiceDuty.none}
UNITS = {"小时": PriceUnit.per_hour, "样": PriceUnit.per_sample, "项": PriceUnit.per_item}


class RowError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _text(value: str) -> str:
    return value.strip()


def _required(value: str) -> str:
    if not value.strip():
        raise ValueError("必填")
    return value.strip()


def _yuan_to_fen(value: str) -> int:
    try:
        amount = Decimal(value.strip().replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError(f"“{value}”不是金额") from exc
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"金额“{value}”须为非负数，最多两位小数")
    return int(amount * 100)


def _fen_to_yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


def _date(value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise ValueError(f"日期“{value}”须为 YYYY-MM-DD") from exc


def _float(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise ValueError(f"“{value}”不是数字") from exc


def _flag(value: str) -> bool:
    value = value.strip()
    if value not in (YES, NO):
        raise ValueError(f"须填写“{YES}”或“{NO}”")
    return value == YES


def _choice(options: dict[str, Any]) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        if value.strip() not in options:
            raise ValueError("须为" + "、".join(f"“{o}”" for o in options) + "之一")
        return options[value.strip()]

    return parse


def _list(value: str) -> list[str]:
    return [part.strip() for part in value.replace("；", ";").split(";") if part.strip()]


def _specs(value: str) -> dict[str, str]:
    specs: dict[str, str] = {}
    for part in _list(value):
        key, sep, val = part.replace("：", ":").partition(":")
        if not sep or not key.strip():
            raise ValueError(f"技术指标“{part}”须写成“指标: 数值”")
        specs[key.strip()] = val.strip()
    return specs


def _items(value: str) -> list[dict[str, Any]]:
    items = []
    for part in _list(value):
        cells = [c.strip() for c in part.split("|")]
        if len(cells) not in (5, 6, 7):
            raise ValueError(f"收费项目“{part}”须为“名称|方式|计价单位|校内价|校外价|周期|性质”")
        name, mode, unit, internal, external = cells[:5]
        turnaround = cells[5] if len(cells) >= 6 else ""
        duty = cells[6] if len(cells) == 7 else ""
        if duty and duty not in DUTIES:
            raise ValueError(f"收费项目“{name}”的性质须为“法定检测”“强制检测”“本单位职责”之一或留空")
        if mode not in MODES:
            raise ValueError(f"收费项目“{name}”的方式须为“机时”或“送样”")
        if unit not in UNITS:
            raise ValueError(f"收费项目“{name}”的计价单位须为“小时”“样”或“项”")
        if turnaround and not turnaround.isdigit():
            raise ValueError(f"收费项目“{name}”的周期须为整数（工作日）")
        items.append(
            {
                "name": name,
                "mode": MODES[mode],
                "price_unit": UNITS[unit],
                "internal_price_fen": _yuan_to_fen(internal),
                "external_price_fen": _yuan_to_fen(external),
                "turnaround_working_days": int(turnaround) if turnaround else None,
                "duty": DUTIES[duty] if duty else ServiceDuty.none,
            }
        )
    return items


@dataclass(frozen=True)
class Column:
    header: str
    field: str
    parse: Callable[[str], Any]
    render: Callable[[Instrument], str]


def _inv(options: dict[str, Any]) -> dict[Any, str]:
    return {v: k for k, v in options.items()}


def _render_items(instrument: Instrument) -> str:
    modes, units = _inv(MODES), _inv(UNITS)
    return "; ".join(
        "|".join(
            [
                i.name,
                modes[i.mode],
                units[i.price_unit],
                _fen_to_yuan(i.internal_price_fen),
                _fen_to_yuan(i.external_price_fen),
                "" if i.turnaround_working_days is None else str(i.turnaround_working_days),
                *([] if i.duty == ServiceDuty.none else [DUTY_LABELS[i.duty]]),
            ]
        )
        for i in instrument.service_items
        if i.active
    )


def _d(value: date | None) -> str:
    return value.isoformat() if value else ""


def _yn(value: bool) -> str:
    return YES if value else NO


def _num(value: float | None) -> str:
    return "" if value is None else repr(value)


COLUMNS: tuple[Column, ...] = (
    Column("资产编号", "asset_number", _required, lambda i: i.asset_number or ""),
    Column("仪器名称", "name", _required, lambda i: i.name),
    Column("英文名称", "name_en", _text, lambda i: i.name_en),
    Column("别名", "aliases", _list, lambda i: "; ".join(i.aliases)),
    Column("规格型号", "model", _text, lambda i: i.model),
    Column("生产厂商", "manufacturer", _text, lambda i: i.manufacturer),
    Column("产地", "origin", _choice(ORIGINS), lambda i: _inv(ORIGINS)[i.origin]),
    Column("分类代码", "category_code", _required, lambda i: i.category_code),
    Column("原值（元）", "original_value_fen", _yuan_to_fen, lambda i: _fen_to_yuan(i.original_value_fen)),
    Column("购置日期", "purchase_date", _date, lambda i: _d(i.purchase_date)),
    Column("验收日期", "acceptance_date", _date, lambda i: _d(i.acceptance_date)),
    Column("所在实验室", "lab", _text, lambda i: i.lab),
    Column("安放地址", "address", _text, lambda i: i.address),
    Column("行政区划代码", "region_code", _required, lambda i: i.region_code),
    Column("纬度", "latitude", _float, lambda i: _num(i.latitude)),
    Column("经度", "longitude", _float, lambda i: _num(i.longitude)),
    Column("运行状态", "status", _choice(STATUSES), lambda i: _inv(STATUSES)[i.status]),
    Column("对外开放", "open_to_public", _flag, lambda i: _yn(i.open_to_public)),
    Column("自主上机", "self_operation", _flag, lambda i: _yn(i.self_operation)),
    Column("机时服务", "operator_run", _flag, lambda i: _yn(i.operator_run)),
    Column("送样检测", "sample_testing", _flag, lambda i: _yn(i.sample_testing)),
    Column(
        "技术指标",
        "specifications",
        _specs,
        lambda i: "; ".join(f"{k}: {v}" for k, v in i.specifications.items()),
    ),
    Column("样品要求", "sample_requirements", _text, lambda i: i.sample_requirements),
    Column("联系人", "contact_name", _text, lambda i: i.contact_name),
    Column("联系电话", "contact_phone", _text, lambda i: i.contact_phone),
    Column("电子邮箱", "contact_email", _text, lambda i: i.contact_email),
    Column("适用创新券", "voucher_eligible", _flag, lambda i: _yn(i.voucher_eligible)),
    Column("海关监管截止日期", "customs_supervised_until", _date, lambda i: _d(i.customs_supervised_until)),
    Column("收费依据", "fee_basis", _text, lambda i: i.fee_basis),
    Column("收费项目", "service_items", _items, _render_items),
)
HEADERS = [c.header for c in COLUMNS]


# --- reading files --------------------------------------------------------------------------
def read_rows(content: bytes, filename: str) -> list[list[str]]:
    """The file's rows as strings (header included); CSV must be UTF-8 (a BOM is fine)."""
    if filename.lower().endswith(".xlsx") or content[:2] == b"PK":
        import openpyxl  # here, not at import: ~7 MB every API process holds for an occasional file

        try:
            book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds on a damaged file
            raise UnreadableImportFile(reason=type(exc).__name__) from exc
        sheet = book.worksheets[0]
        rows = []
        for values in sheet.iter_rows(values_only=True):
            rows.append([_cell(v) for v in values])
            if len(rows) > MAX_ROWS + 1:
                break
        return rows
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableImportFile(reason="not_utf8") from exc
    return [row for row in csv.reader(io.StringIO(text))]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "date") and callable(value.date):
        return str(value.date().isoformat())
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- parsing and checking -------------------------------------------------------------------
@dataclass
class ParsedRow:
    line: int
    data: InstrumentIn


def parse_rows(
    rows: Sequence[Sequence[str]], unit_id: uuid.UUID
) -> tuple[list[ParsedRow], list[dict[str, Any]]]:
    errors: list[dict[str, Any]] = []
    if not rows:
        return [], [{"row": 1, "field": None, "message": "文件为空"}]
    header = [h.strip() for h in rows[0]]
    while header and not header[-1]:
        header.pop()
    if header != HEADERS:
        missing = [h for h in HEADERS if h not in header]
        extra = [h for h in header if h not in HEADERS]
        detail = "；".join(
            part
            for part in (
                "缺少列：" + "、".join(missing) if missing else "",
                "多余列：" + "、".join(extra) if extra else "",
                "列顺序与模板不一致" if not missing and not extra else "",
            )
            if part
        )
        return [], [{"row": 1, "field": None, "message": "表头与模板不符：" + detail}]
    body = [(n, list(r)) for n, r in enumerate(rows[1:], start=2) if any(str(c).strip() for c in r)]
    if len(body) > MAX_ROWS:
        return [], [{"row": 1, "field": None, "message": f"一次最多导入 {MAX_ROWS} 行"}]
    parsed: list[ParsedRow] = []
    for line, cells in body:
        cells = cells + [""] * (len(COLUMNS) - len(cells))
        values: dict[str, Any] = {"unit_id": unit_id}
        row_errors = []
        for column, raw in zip(COLUMNS, cells, strict=False):
            try:
                values[column.field] = column.parse(str(raw))
            except ValueError as exc:
                row_errors.append({"row": line, "field": column.header, "message": f"{column.header}：{exc}"})
        if not row_errors:
            items = values.pop("service_items")
            try:
                data = msgspec.convert(
                    {**values, "service_items": items}, InstrumentIn, strict=False, from_attributes=False
                )
            except msgspec.ValidationError as exc:
                row_errors.append({"row": line, "field": _header_of(str(exc)), "message": f"内容有误：{exc}"})
            else:
                parsed.append(ParsedRow(line, data))
        errors.extend(row_errors)
    return parsed, errors


def _header_of(message: str) -> str | None:
    for column in COLUMNS:
        if f"$.{column.field}" in message:
            return column.header
    return None


_FIELD_HEADERS = {c.field: c.header for c in COLUMNS}


def _header_for_problem(field: str) -> str:
    return _FIELD_HEADERS.get(field.split("[")[0].split(".")[0], field)


# --- import and export ----------------------------------------------------------------------
async def import_instruments(
    session: AsyncSession,
    principal: Principal,
    content: bytes,
    filename: str,
    unit_id: uuid.UUID | None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int, list[uuid.UUID]]:
    """Import a monthly push for one unit: (created, updated, ids); raises ImportRejected.
    ``progress(done, total)`` counts the rows checked, then the rows written (total: twice the rows)."""
    unit = resolve_unit(principal, unit_id)
    rows = read_rows(content, filename)
    parsed, errors = parse_rows(rows, unit)
    async with transaction(session):
        ref = await load_reference(session)
        seen: dict[str, int] = {}
        steps = 2 * len(parsed)
        for checked, row in enumerate(parsed, 1):
            if progress is not None:
                progress(checked, steps)
            for problem in check_instrument(row.data, ref):
                errors.append(
                    {"row": row.line, "field": _header_for_problem(problem.field), "message": problem.message}
                )
            asset = row.data.asset_number or ""
            if asset in seen:
                errors.append(
                    {
                        "row": row.line,
                        "field": "资产编号",
                        "message": f"资产编号 {asset} 与第 {seen[asset]} 行重复",
                    }
                )
            seen.setdefault(asset, row.line)
        if errors:
            errors.sort(key=lambda e: (e["row"], e["field"] or ""))
            raise ImportRejected(
                f"导入文件有 {len({e['row'] for e in errors})} 行错误，未导入任何数据", errors=errors
            )
        existing = {
            i.asset_number: i
            for i in (
                await session.scalars(
                    select(Instrument).where(
                        Instrument.unit_id == unit, Instrument.asset_number.in_(list(seen))
                    )
                )
            ).all()
        }
        # Staff's new instruments await the unit admin; a unit admin's push lists them directly.
        new_state = (
            PublicationStatus.published
            if unit in principal.orgs_where(Role.unit_admin)
            else PublicationStatus.pending
        )
        created = updated = 0
        ids: list[uuid.UUID] = []
        audited: list[tuple[Instrument, Snapshot]] = []
        now = utcnow()
        for written, row in enumerate(parsed, len(parsed) + 1):
            if progress is not None:
                progress(written, steps)
            instrument = existing.get(row.data.asset_number)
            before = instrument_snapshot(instrument)
            if instrument is None:
                instrument = Instrument(
                    id=uuid.uuid4(), publication=new_state, service_items=[], submitted_at=now
                )
                if new_state == PublicationStatus.published:
                    instrument.published_at = now
                    instrument.reviewed_by = principal.user_id
                session.add(instrument)
                created += 1
            else:
                updated += 1
                instrument.updated_at = now
            apply_fields(instrument, row.data, unit)
            apply_items(
                instrument,
                [ServiceItemIn(**msgspec.structs.asdict(i)) for i in row.data.service_items],
                match_by_name=True,
            )
            instrument.updated_by = principal.user_id
            ids.append(instrument.id)
            audited.append((instrument, before))
        await session.flush()
        for instrument, before in audited:
            await record_instrument_change(
                session, principal.user_id, instrument, before, "imported" if before[0] is None else "updated"
            )
        await emit_instruments_changed(session, ids, "imported")
    return created, updated, ids


async def unit_instruments_for_export(
    session: AsyncSession, principal: Principal, unit_id: uuid.UUID | None
) -> list[Instrument]:
    unit = resolve_unit(principal, unit_id)
    rows = await session.scalars(
        select(Instrument).where(Instrument.unit_id == unit).order_by(Instrument.asset_number, Instrument.id)
    )
    return list(rows.all())


def export_rows(instruments: Sequence[Instrument]) -> list[list[str]]:
    return [HEADERS] + [[column.render(i) for column in COLUMNS] for i in instruments]


def to_csv(rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def to_xlsx(rows: Sequence[Sequence[str]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "仪器月度推送"
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
