"""Pure voucher rules: the voucher share, where a programme is accepted, which programme pays an
order, money and calendar helpers.

No database here: everything is testable with plain values (and is, with hypothesis).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, TypeVar

FULL_COVERAGE_BP = 10_000
K = TypeVar("K")

if TYPE_CHECKING:
    import uuid

    from vouchers.checkout import CheckoutOrder
    from vouchers.checkout_store import Grant, ProgramTerms


def voucher_share(
    fee_fen: int,
    coverage_bp: int,
    per_order_cap_fen: int,
    available_fen: int,
    remaining_firm_cap_fen: int,
) -> int:
    """The voucher share of one fee: min(fee × coverage, per-order cap, balance, firm's remaining cap).

    ``fee × coverage`` is rounded down to the fen, so the voucher never pays a fraction of a fen
    more than the programme's ratio (the firm pays that fraction). Negative inputs count as 0.
    """
    fee = max(fee_fen, 0)
    coverage = min(max(coverage_bp, 0), FULL_COVERAGE_BP)
    covered = fee * coverage // FULL_COVERAGE_BP
    return max(0, min(covered, per_order_cap_fen, available_fen, remaining_firm_cap_fen))


def region_covers(area_code: str, code: str) -> bool:
    """Whether a GB/T 2260 ``area_code`` (province, city or district) contains ``code``.

    A province ends in ``0000`` and covers its first two digits; a city ends in ``00`` and covers
    its first four; anything else is a district and covers itself only.
    """
    return code.startswith(region_prefix(area_code))


def region_prefix(area_code: str) -> str:
    """The leading digits every code inside ``area_code`` shares (see ``region_covers``)."""
    if area_code.endswith("0000"):
        return area_code[:2]
    if area_code.endswith("00"):
        return area_code[:4]
    return area_code


def region_at_level_of(area_code: str, code: str) -> str:
    """``code`` rolled up to ``area_code``'s level: a district of 杭州 (330106) seen by a city
    (330200) is 330100, seen by a province (320000) is 330000."""
    prefix = region_prefix(code)[: len(region_prefix(area_code))]
    return prefix.ljust(6, "0")


@dataclass(frozen=True)
class ProgramRules:
    """The parts of a programme that decide whether one order may use it."""

    region_code: str
    valid_from: date
    valid_until: date
    requires_tech_sme: bool
    accepted_region_codes: Sequence[str]
    cross_region: bool
    accepted_unit_ids: Sequence[str]
    accepted_category_codes: Sequence[str]


def provider_region_accepted(rules: ProgramRules, provider_region: str) -> bool:
    """Providers in the issuer's region always qualify; elsewhere only where 通用通兑 allows."""
    areas = list(rules.accepted_region_codes) or [rules.region_code]
    if not any(region_covers(area, provider_region) for area in areas):
        return False
    return rules.cross_region or region_covers(rules.region_code, provider_region)


def order_accepted(
    rules: ProgramRules,
    *,
    on: date,
    firm_is_tech_sme: bool,
    provider_unit_id: str,
    provider_region: str,
    category_code: str,
    instrument_voucher_eligible: bool,
) -> bool:
    if not instrument_voucher_eligible:
        return False
    if not (rules.valid_from <= on <= rules.valid_until):
        return False
    if rules.requires_tech_sme and not firm_is_tech_sme:
        return False
    if rules.accepted_unit_ids and provider_unit_id not in rules.accepted_unit_ids:
        return False
    if rules.accepted_category_codes and not any(
        category_code.startswith(prefix) for prefix in rules.accepted_category_codes
    ):
        return False
    return provider_region_accepted(rules, provider_region)


def accepting_grants(
    grants: Iterable[Grant], order: CheckoutOrder, on: date, firm_is_tech_sme: bool
) -> list[Grant]:
    """The firm's usable grants whose programme accepts this order on ``on``, earliest-expiring first."""
    return sorted(
        (
            g
            for g in grants
            if g.usable
            and order_accepted(
                g.program.rules,
                on=on,
                firm_is_tech_sme=firm_is_tech_sme,
                provider_unit_id=str(order.unit_id),
                provider_region=order.region_code,
                category_code=order.category_code,
                instrument_voucher_eligible=order.voucher_eligible,
            )
        ),
        key=lambda g: (g.expires_on, g.created_at, g.id),
    )


def program_share(fee_fen: int, program: ProgramTerms, available_fen: int, used_fen: int) -> int:
    """The share one programme pays of a fee, given the grants' balance and what the firm has
    already held or captured under it this year (``used_fen``)."""
    return voucher_share(
        fee_fen,
        program.coverage_bp,
        program.per_order_cap_fen,
        available_fen,
        program.per_firm_year_cap_fen - used_fen,
    )


def programs_with_balance(accepting: Sequence[Grant]) -> list[tuple[ProgramTerms, list[Grant], int]]:
    """The programmes of the accepting grants in the order they are tried (earliest-expiring
    grant first), each with its grants and their summed balance; those with nothing left are out."""
    by_program: dict[uuid.UUID, list[Grant]] = {}
    for g in accepting:
        by_program.setdefault(g.program.id, []).append(g)
    candidates = [
        (grants[0].program, grants, sum(g.balance_fen for g in grants)) for grants in by_program.values()
    ]
    return [c for c in candidates if c[2] > 0]


@dataclass(frozen=True)
class ProgramChoice:
    program: ProgramTerms | None
    share_fen: int
    grants: list[Grant]  # the programme's accepting grants, earliest-expiring first


def choose_program(
    candidates: Sequence[tuple[ProgramTerms, list[Grant], int]],
    fee_fen: int,
    used_fen: Mapping[uuid.UUID, int],
) -> ProgramChoice:
    """Which programme pays an order: of ``programs_with_balance``, the first that pays a positive
    share. One order is paid by one programme, so coverage ratios never stack. ``used_fen``: the
    firm's use of each candidate programme this year."""
    for program, grants, available in candidates:
        share = program_share(fee_fen, program, available, used_fen[program.id])
        if share > 0:
            return ProgramChoice(program, share, grants)
    return ProgramChoice(None, 0, [])


def allocate(amount_fen: int, balances: Sequence[tuple[K, int]]) -> list[tuple[K, int]]:
    """Take ``amount_fen`` from balances in the given order (earliest-expiring first)."""
    taken: list[tuple[K, int]] = []
    left = amount_fen
    for name, balance in balances:
        if left <= 0:
            break
        take = min(balance, left)
        if take > 0:
            taken.append((name, take))
            left -= take
    if left > 0:
        raise ValueError("balances do not cover the amount")
    return taken


def yuan_to_fen(text: str) -> int:
    """Parse an amount in yuan as a clerk writes it ("50000", "50,000.00", "1234.5") into fen."""
    cleaned = text.strip().replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(text) from exc
    if not value.is_finite() or value != value.quantize(Decimal("0.01")):
        raise ValueError(text)
    return int(value * 100)


def fen_to_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
