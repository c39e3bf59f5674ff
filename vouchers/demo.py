"""Demo vouchers: 杭州市科学技术局's active programme, accepted by providers across 浙江省, and a
grant of 50,000 元 to demo-researcher's firm (杭州青禾). demo-researcher-2's firm holds none."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.demo import demo_id
from vouchers.grants import add_grant
from vouchers.models import ProgramStatus, VoucherGrant, VoucherProgram
from vouchers.programs import fund_program

DEMO_PROGRAM = "voucher-program-hz-2026"
DEMO_GRANT = "voucher-grant-qinghe-2026"


async def load_vouchers(session: AsyncSession) -> None:
    program = await session.get(VoucherProgram, demo_id(DEMO_PROGRAM))
    if program is None:
        program = VoucherProgram(
            id=demo_id(DEMO_PROGRAM),
            bureau_id=demo_id("bureau-hz-sci"),
            region_code="330100",
            name="2026年度杭州市科技创新券（长三角通用通兑）",
            year=2026,
            budget_fen=500_000_000,  # 500 万元
            coverage_bp=5000,  # 50% of each fee
            per_order_cap_fen=2_000_000,  # 2 万元 per order
            per_firm_year_cap_fen=10_000_000,  # 10 万元 per firm per year
            valid_from=date(2026, 1, 1),
            valid_until=date(2027, 12, 31),
            requires_tech_sme=True,
            accepted_region_codes=["330000"],  # providers anywhere in 浙江省
            cross_region=True,
            status=ProgramStatus.active,
        )
        session.add(program)
        await session.flush()
        await fund_program(session, program, None)
    if await session.get(VoucherGrant, demo_id(DEMO_GRANT)) is None:
        await add_grant(
            session,
            program,
            demo_id("firm-qinghe"),
            5_000_000,  # 5 万元
            "演示：青禾生物 2026 年度创新券",
            f"demo:{DEMO_GRANT}",
            demo_id("demo-science-bureau"),
            grant_id=demo_id(DEMO_GRANT),
        )
