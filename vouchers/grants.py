"""Grants: a bureau officer gives a firm an amount under a programme, one by one or from a CSV file.

A file is all or nothing: every row is checked first and any error rejects the whole file with
the errors per row; only a clean file is imported, in one transaction.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import Organization, OrgKind
from vouchers.access import require_program_officer
from vouchers.checkout import within_caller_transaction
from vouchers.errors import BudgetExceeded, FirmNotEligible, GrantImportRejected, ProgramClosed
from vouchers.ledger import Posting, budget_account, grant_account, hold_account, open_account, post_entry
from vouchers.models import AccountKind, EntryKind, GrantStatus, ProgramStatus, VoucherGrant, VoucherProgram
from vouchers.programs import budget_available_fen, lock_program
from vouchers.rules import region_covers, yuan_to_fen
from vouchers.schemas import GrantIn
from yixiang.audit import record_change, snapshot
from yixiang.clock import shanghai_date
from yixiang.db import utcnow

MAX_IMPORT_ROWS = 5000
USCC_HEADERS = ("uscc", "统一社会信用代码")
AMOUNT_HEADERS = ("amount_yuan", "金额（元）", "金额(元)", "金额")
NOTE_HEADERS = ("note", "备注")


def firm_problem(program: VoucherProgram, firm: Organization | None) -> tuple[str, str] | None:
    """Why a firm may not receive a grant of this programme (code, message), or None."""
    if firm is None or firm.kind != OrgKind.enterprise:
        return "firm_not_found", "未找到该企业"
    if not region_covers(program.region_code, firm.region_code):
        return "firm_outside_region", "企业注册地不在发券地区"
    if program.requires_tech_sme and not firm.is_tech_sme:
        return "not_tech_sme", "本批次仅面向科技型中小企业"
    return None


def _require_open(program: VoucherProgram) -> None:
    if program.status != ProgramStatus.active or shanghai_date(utcnow()) > program.valid_until:
        raise ProgramClosed()


async def add_grant(
    session: AsyncSession,
    program: VoucherProgram,
    enterprise_id: uuid.UUID,
    amount_fen: int,
    note: str,
    key: str,
    actor_id: uuid.UUID,
    *,
    grant_id: uuid.UUID | None = None,
) -> VoucherGrant:
    grant = VoucherGrant(
        id=grant_id or uuid.uuid4(),
        program_id=program.id,
        enterprise_id=enterprise_id,
        amount_fen=amount_fen,
        expires_on=program.valid_until,
        status=GrantStatus.active,
        note=note,
        key=key,
        created_by=actor_id,
        created_at=utcnow(),
    )
    session.add(grant)
    await session.flush()
    await record_change(
        session,
        actor_id=actor_id,
        entity_type="voucher_grant",
        entity_id=grant.id,
        action="created",
        after={
            **snapshot(grant, ("program_id", "enterprise_id", "amount_fen", "expires_on", "note")),
            "program_name": program.name,
        },
    )
    common: dict[str, Any] = {"grant_id": grant.id, "enterprise_id": enterprise_id}
    await open_account(session, grant_account(grant.id), AccountKind.grant, program.id, **common)
    await open_account(session, hold_account(grant.id), AccountKind.hold, program.id, **common)
    await post_entry(
        session,
        Posting(
            key=f"grant:{grant.id}",
            kind=EntryKind.grant,
            lines=[(budget_account(program.id), -amount_fen), (grant_account(grant.id), amount_fen)],
            program_id=program.id,
            grant_id=grant.id,
            actor_id=actor_id,
            reason=note or "发放创新券",
        ),
    )
    return grant


async def create_grant(
    session: AsyncSession, principal: Principal, program_id: uuid.UUID, data: GrantIn, *, key: str
) -> VoucherGrant:
    async with within_caller_transaction(session):
        program = require_program_officer(principal, await lock_program(session, program_id))
        grant_key = f"{program.id}:{key}"
        existing = await session.scalar(select(VoucherGrant).where(VoucherGrant.key == grant_key))
        if existing is not None:
            return existing  # replayed with its key
        _require_open(program)
        problem = firm_problem(program, await session.get(Organization, data.enterprise_id))
        if problem:
            raise FirmNotEligible(problem[1], reason=problem[0], enterprise_id=str(data.enterprise_id))
        available = await budget_available_fen(session, program.id)
        if data.amount_fen > available:
            raise BudgetExceeded(available_fen=available, requested_fen=data.amount_fen)
        return await add_grant(
            session, program, data.enterprise_id, data.amount_fen, data.note, grant_key, principal.user_id
        )


@dataclass
class _Row:
    line: int
    uscc: str
    amount_fen: int
    note: str


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK by default
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise GrantImportRejected("文件编码无法识别，请保存为 UTF-8 或 GBK 编码的 CSV", rows=[])


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    normalized = [h.strip().lower() for h in header]
    for name in names:
        if name.lower() in normalized:
            return normalized.index(name.lower())
    return None


def parse_grant_csv(raw: bytes) -> tuple[list[_Row], list[dict[str, Any]]]:
    """Rows and per-row errors (``line`` is the line number in the file, the header being 1)."""
    reader = csv.reader(io.StringIO(_decode(raw)))
    header = next(reader, None)
    if header is None:
        raise GrantImportRejected("文件为空", rows=[])
    uscc_col, amount_col, note_col = (
        _column(header, n) for n in (USCC_HEADERS, AMOUNT_HEADERS, NOTE_HEADERS)
    )
    if uscc_col is None or amount_col is None:
        raise GrantImportRejected(
            "表头须包含 统一社会信用代码(uscc) 与 金额（元）(amount_yuan) 两列",
            rows=[{"line": 1, "field": "header", "code": "missing_columns", "message": "缺少必需的列"}],
        )
    rows: list[_Row] = []
    errors: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(rows) + len(errors) >= MAX_IMPORT_ROWS:
            raise GrantImportRejected(f"一次最多导入 {MAX_IMPORT_ROWS} 行", rows=[])

        def cell(col: int | None, cells: list[str] = cells) -> str:
            return cells[col].strip() if col is not None and col < len(cells) else ""

        uscc = cell(uscc_col).upper()
        if len(uscc) != 18:
            errors.append(
                {"line": line, "field": "uscc", "code": "invalid_uscc", "message": "统一社会信用代码应为18位"}
            )
            continue
        if uscc in seen:
            errors.append(
                {
                    "line": line,
                    "field": "uscc",
                    "code": "duplicate_row",
                    "message": f"与第 {seen[uscc]} 行重复",
                }
            )
            continue
        seen[uscc] = line
        try:
            amount = yuan_to_fen(cell(amount_col))
        except ValueError:
            amount = 0
        if amount <= 0:
            errors.append(
                {
                    "line": line,
                    "field": "amount_yuan",
                    "code": "invalid_amount",
                    "message": "金额须为正数，最多两位小数",
                }
            )
            continue
        rows.append(_Row(line=line, uscc=uscc, amount_fen=amount, note=cell(note_col)[:500]))
    return rows, errors


async def import_grants(
    session: AsyncSession, principal: Principal, program_id: uuid.UUID, raw: bytes, *, key: str
) -> list[VoucherGrant]:
    async with within_caller_transaction(session):
        program = require_program_officer(principal, await lock_program(session, program_id))
        prefix = f"{program.id}:import:{key}:"
        replayed = (
            await session.scalars(
                select(VoucherGrant).where(VoucherGrant.key.startswith(prefix, autoescape=True))
            )
        ).all()
        if replayed:
            return list(replayed)
        _require_open(program)
        rows, errors = parse_grant_csv(raw)
        firms = {
            f.uscc: f
            for f in (
                await session.scalars(
                    select(Organization).where(Organization.uscc.in_([r.uscc for r in rows]))
                )
            ).all()
        }
        valid: list[tuple[_Row, Organization]] = []
        for row in rows:
            firm = firms.get(row.uscc)
            problem = firm_problem(program, firm)
            if problem or firm is None:
                code, message = problem or ("firm_not_found", "未找到该企业")
                errors.append({"line": row.line, "field": "uscc", "code": code, "message": message})
            else:
                valid.append((row, firm))
        total = sum(r.amount_fen for r, _ in valid)
        available = await budget_available_fen(session, program.id)
        if not errors and total > available:
            errors.append(
                {
                    "line": None,
                    "field": "amount_yuan",
                    "code": "budget_exceeded",
                    "message": f"合计金额超过批次剩余预算（剩余 {available} 分，需要 {total} 分）",
                }
            )
        if errors or not valid:
            errors.sort(key=lambda e: (e["line"] is None, e["line"] or 0))
            raise GrantImportRejected(
                rows=errors
                or [{"line": None, "field": None, "code": "no_rows", "message": "文件中没有数据行"}]
            )
        return [
            await add_grant(
                session, program, firm.id, row.amount_fen, row.note, f"{prefix}{row.line}", principal.user_id
            )
            for row, firm in valid
        ]
