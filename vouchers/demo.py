"""Demo vouchers of two cities whose programmes accept each other's providers (通用通兑, seed 004
§(八)): 杭州市科学技术局's programme, accepted by providers across 浙江省, with a grant of 50,000 元
to demo-researcher's firm (杭州青禾); and 宁波市科学技术局's, accepted in 宁波 and 杭州, with a
grant of 30,000 元 to 宁波海韵智能装备 (demo-researcher-nb). demo-researcher-2's firm (宁波蓝湾) holds
none."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.demo import demo_id
from vouchers.grants import add_grant
from vouchers.models import ProgramStatus, VoucherGrant, VoucherProgram
from vouchers.programs import fund_program

DEMO_PROGRAM = "voucher-program-hz-2026"
DEMO_GRANT = "voucher-grant-qinghe-2026"
NINGBO_PROGRAM = "voucher-program-nb-2026"
NINGBO_GRANT = "voucher-grant-haiyun-2026"


async def _program(session: AsyncSession, key: str, **terms: object) -> VoucherProgram:
    program = await session.get(VoucherProgram, demo_id(key))
    if program is None:
        program = VoucherProgram(
            id=demo_id(key),
            year=2026,
            valid_from=date(2026, 1, 1),
            valid_until=date(2027, 12, 31),
            requires_tech_sme=True,
            cross_region=True,
            status=ProgramStatus.active,
            **terms,
        )
        session.add(program)
        await session.flush()
        await fund_program(session, program, None)
    return program


async def _grant(
    session: AsyncSession,
    program: VoucherProgram,
    key: str,
    firm: str,
    amount_fen: int,
    note: str,
    by: str,
) -> None:
    """``by``: the demo officer who granted it."""
    if await session.get(VoucherGrant, demo_id(key)) is None:
        await add_grant(
            session,
            program,
            demo_id(firm),
            amount_fen,
            note,
            f"demo:{key}",
            demo_id(by),
            grant_id=demo_id(key),
        )


async def load_vouchers(session: AsyncSession) -> None:
    hangzhou = await _program(
        session,
        DEMO_PROGRAM,
        bureau_id=demo_id("bureau-hz-sci"),
        region_code="330100",
        name="2026年度杭州市科技创新券（长三角通用通兑）",
        budget_fen=500_000_000,  # 500 万元
        coverage_bp=5000,  # 50% of each fee
        per_order_cap_fen=2_000_000,  # 2 万元 per order
        per_firm_year_cap_fen=10_000_000,  # 10 万元 per firm per year
        accepted_region_codes=["330000"],  # providers anywhere in 浙江省
    )
    await _grant(
        session,
        hangzhou,
        DEMO_GRANT,
        "firm-qinghe",
        5_000_000,
        "演示：青禾生物 2026 年度创新券",
        "demo-science-bureau",
    )
    ningbo = await _program(
        session,
        NINGBO_PROGRAM,
        bureau_id=demo_id("bureau-nb-sci"),
        region_code="330200",
        name="2026年度宁波市科技创新券（甬杭通用通兑）",
        budget_fen=300_000_000,  # 300 万元
        coverage_bp=4000,  # 40% of each fee
        per_order_cap_fen=1_500_000,  # 1.5 万元 per order
        per_firm_year_cap_fen=6_000_000,  # 6 万元 per firm per year
        accepted_region_codes=["330200", "330100"],  # providers in 宁波 and 杭州
    )
    await _grant(
        session,
        ningbo,
        NINGBO_GRANT,
        "firm-nb-haiyun",
        3_000_000,
        "演示：海韵智能装备 2026 年度创新券",
        "demo-science-bureau-nb",
    )
