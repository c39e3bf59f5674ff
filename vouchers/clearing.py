"""The clearing statement between two regions' bureaus (通用通兑, seed 004 §(八)).

A programme may accept providers outside its issuer's region. When a firm's voucher pays such a
provider, the issuing region's settlement batch pays the provider (settlement draws by the
programme's region, wherever the provider is), so no money moves between the bureaus; what they
need is one record both read the same way. For a bureau's region and a period (captures in it,
Asia/Shanghai days, as for settlement batches), per counterpart region:

- out (本地券异地使用): our programmes' vouchers spent at the counterpart's providers;
- in (异地券本地使用): the counterpart's vouchers spent at our providers;

each booking with its amounts to the fen and the issuer's batch that settles it. The same booking
appears as "out" on the issuer's statement and as "in" on the provider region's, with the same
amounts. A counterpart is named at the reader's level: a city bureau sees the other city, a
province bureau the other province.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Organization, Region, Role
from vouchers.errors import BureauRequired
from vouchers.models import (
    CheckoutState,
    SettlementBatch,
    SettlementLine,
    SettlementStatus,
    VoucherCheckout,
    VoucherProgram,
)
from vouchers.rules import region_at_level_of, region_covers, region_prefix
from vouchers.schemas import ClearingCounterpartOut, ClearingLineOut, ClearingOut
from vouchers.settlement import MAX_PERIOD_DAYS, period_bounds
from vouchers.settlement_export import STATUS_LABELS, csv_bytes
from vouchers.statements import booking_number
from yixiang.clock import public_moment_text
from yixiang.errors import InvalidInput

OUT, IN = "out", "in"
DIRECTION_LABELS = {OUT: "本地券异地使用", IN: "异地券本地使用"}
NOT_IN_A_BATCH = "未列入兑付批次"
SETTLED = (SettlementStatus.paid, SettlementStatus.reconciled)


@dataclass(frozen=True)
class ClearingQuery:
    region_code: str | None  # the bureau's region; a bureau officer of one region may leave it out
    period_start: date
    period_end: date


def _reader_region(principal: Principal, wanted: str | None) -> str:
    """The region whose statement the caller reads: one they are a bureau officer in (the platform
    admin names any)."""
    if not (principal.is_platform_admin or principal.has_role(Role.bureau_officer)):
        raise BureauRequired()
    regions = principal.regions_where(Role.bureau_officer)
    if wanted is None:
        if len(regions) == 1:
            return next(iter(regions))
        raise InvalidInput("请指定地区（行政区划代码）", field="region")
    if wanted not in regions and not principal.is_platform_admin:
        raise BureauRequired("只能查看本地区的清算对账单", region=wanted)
    return wanted


async def clearing_statement(
    session: AsyncSession, principal: Principal, query: ClearingQuery
) -> ClearingOut:
    region = _reader_region(principal, query.region_code)
    if (
        query.period_end < query.period_start
        or (query.period_end - query.period_start).days > MAX_PERIOD_DAYS
    ):
        raise InvalidInput("对账期间有误（结束不早于开始，最长一年）", field="period_end")
    start, end = period_bounds(query.period_start, query.period_end)
    ours = VoucherCheckout.region_code.like(f"{region_prefix(region)}%")
    rows = (
        await session.execute(
            select(VoucherCheckout, VoucherProgram.region_code, VoucherProgram.name, SettlementBatch)
            .join(VoucherProgram, VoucherProgram.id == VoucherCheckout.program_id)
            .outerjoin(SettlementLine, SettlementLine.settles_booking_id == VoucherCheckout.booking_id)
            .outerjoin(SettlementBatch, SettlementBatch.id == SettlementLine.batch_id)
            .where(
                VoucherCheckout.state == CheckoutState.captured,
                VoucherCheckout.voucher_fen > 0,
                VoucherCheckout.captured_at >= start,
                VoucherCheckout.captured_at < end,
                or_(
                    and_(VoucherProgram.region_code == region, not_(ours)),  # out
                    and_(VoucherProgram.region_code != region, ours),  # in (if not the issuer's own)
                ),
            )
            .order_by(VoucherCheckout.captured_at, VoucherCheckout.booking_id)
        )
    ).all()
    found: list[tuple[str, str, VoucherCheckout, str, str, SettlementBatch | None]] = []
    for checkout, issuer, program_name, in_batch in rows:
        if issuer == region:
            direction, counterpart = OUT, region_at_level_of(region, checkout.region_code)
        elif not region_covers(issuer, checkout.region_code):  # not the province's own programme
            direction, counterpart = IN, region_at_level_of(region, issuer)
        else:
            continue
        if counterpart != region:  # a district's programme used in another district of ours
            found.append((direction, counterpart, checkout, issuer, program_name, in_batch))
    names = await _names(
        session, {c.unit_id for _, _, c, *_ in found} | {c.enterprise_id for _, _, c, *_ in found}
    )
    regions = await _region_names(session, {region} | {counterpart for _, counterpart, *_ in found})
    by_counterpart: dict[str, list[ClearingLineOut]] = defaultdict(list)
    for direction, counterpart, c, issuer, program_name, batch in found:
        assert c.program_id is not None and c.captured_at is not None
        by_counterpart[counterpart].append(
            ClearingLineOut(
                direction=direction,
                direction_label=DIRECTION_LABELS[direction],
                booking_id=c.booking_id,
                booking_number=booking_number(c),
                program_id=c.program_id,
                program_name=program_name,
                issuer_region_code=issuer,
                provider_region_code=c.region_code,
                unit_id=c.unit_id,
                unit_name=names.get(c.unit_id, ""),
                enterprise_id=c.enterprise_id,
                enterprise_name=names.get(c.enterprise_id, ""),
                fee_fen=c.fee_fen,
                voucher_fen=c.voucher_fen,
                captured_at=c.captured_at,
                settlement_id=batch.id if batch is not None else None,
                settlement_status=batch.status if batch is not None else None,
                settlement_label=STATUS_LABELS[batch.status] if batch is not None else NOT_IN_A_BATCH,
            )
        )
    counterparts = [
        _counterpart(code, regions.get(code, code), lines) for code, lines in sorted(by_counterpart.items())
    ]
    out_fen = sum(c.out_voucher_fen for c in counterparts)
    in_fen = sum(c.in_voucher_fen for c in counterparts)
    return ClearingOut(
        region_code=region,
        region_name=regions.get(region, region),
        period_start=query.period_start,
        period_end=query.period_end,
        out_voucher_fen=out_fen,
        in_voucher_fen=in_fen,
        net_fen=in_fen - out_fen,
        counterparts=counterparts,
    )


def _counterpart(code: str, name: str, lines: list[ClearingLineOut]) -> ClearingCounterpartOut:
    def total(direction: str, settled_only: bool = False) -> int:
        return sum(
            line.voucher_fen
            for line in lines
            if line.direction == direction and (not settled_only or line.settlement_status in SETTLED)
        )

    out_fen, in_fen = total(OUT), total(IN)
    return ClearingCounterpartOut(
        region_code=code,
        region_name=name,
        out_bookings=sum(1 for line in lines if line.direction == OUT),
        out_voucher_fen=out_fen,
        out_settled_fen=total(OUT, settled_only=True),
        in_bookings=sum(1 for line in lines if line.direction == IN),
        in_voucher_fen=in_fen,
        in_settled_fen=total(IN, settled_only=True),
        net_fen=in_fen - out_fen,
        lines=lines,
    )


async def _names(session: AsyncSession, org_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not org_ids:
        return {}
    rows = await session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))
    )
    return {org_id: name for org_id, name in rows.all()}


async def _region_names(session: AsyncSession, codes: set[str]) -> dict[str, str]:
    rows = await session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))
    return {code: name for code, name in rows.all()}


EXPORT_HEADER: list[object] = [
    "对方地区",
    "方向",
    "预约号",
    "创新券批次",
    "发券地区代码",
    "服务单位",
    "服务单位地区代码",
    "企业",
    "服务费（元）",
    "创新券金额（元）",
    "完成时间",
    "兑付状态",
    "预约ID",
]
AMOUNT_COLUMNS = (8, 9)  # 0-based: 服务费, 创新券金额


def export_rows(out: ClearingOut) -> list[list[object]]:
    """Header, each counterpart's lines then its two subtotals (out, in), amounts in fen."""
    rows: list[list[object]] = [EXPORT_HEADER.copy()]
    for c in out.counterparts:
        for line in c.lines:
            rows.append(
                [
                    c.region_name,
                    line.direction_label,
                    line.booking_number,
                    line.program_name,
                    line.issuer_region_code,
                    line.unit_name,
                    line.provider_region_code,
                    line.enterprise_name,
                    line.fee_fen,
                    line.voucher_fen,
                    public_moment_text(line.captured_at),
                    line.settlement_label,
                    str(line.booking_id),
                ]
            )
        for direction, bookings, amount in (
            (OUT, c.out_bookings, c.out_voucher_fen),
            (IN, c.in_bookings, c.in_voucher_fen),
        ):
            label = f"小计：{DIRECTION_LABELS[direction]} {bookings} 笔"
            rows.append([c.region_name, label, "", "", "", "", "", "", None, amount, "", "", ""])
    return rows


def export_csv(out: ClearingOut) -> bytes:
    return csv_bytes(export_rows(out), AMOUNT_COLUMNS)
