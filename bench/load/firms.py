"""Firms for the load bench: a day's bookings come from many firms, not two.

Each booking holds its firm's voucher share, which locks that firm's grants until the booking's
transaction commits (``yixiang.locking``: one firm's balance is decided one booking at a time).
With every booking made by the two demo researchers, the mix measured two firms queueing on
their own grants; this adds ``count`` firms, each with a researcher (``load-researcher-NNN``,
signed in through dev sign-in) and a grant of the demo 杭州 programme.

    python -m bench.load.firms --count 50      # with the server's YIXIANG_* environment
"""

from __future__ import annotations

import argparse
import asyncio

from accounts.demo import demo_id
from accounts.models import Membership, Organization, OrgKind, Role, User
from vouchers.demo import DEMO_PROGRAM
from vouchers.grants import add_grant
from vouchers.models import VoucherProgram
from yixiang.db import create_engine, create_session_maker
from yixiang.settings import load_settings

GRANT_FEN = 2_000_000  # 2 万元 each (the demo programme's budget takes 100 firms): bookings are cancelled


def researcher(index: int) -> str:
    return f"load-researcher-{index:03d}"


async def add_firms(count: int) -> None:
    settings = load_settings()
    engine = create_engine(settings.effective_database_url)
    sessions = create_session_maker(engine)
    try:
        async with sessions() as session, session.begin():
            program = await session.get(VoucherProgram, demo_id(DEMO_PROGRAM))
            assert program is not None, "load the demo data first (yixiang demo load)"
            for index in range(count):
                firm_id = demo_id(f"load-firm-{index}")
                if await session.get(Organization, firm_id) is not None:
                    continue
                session.add(
                    Organization(
                        id=firm_id,
                        kind=OrgKind.enterprise,
                        name=f"压测企业{index:03d}有限公司",
                        uscc=f"91330106LOAD{index:05d}X"[:18],
                        region_code="330106",
                        is_tech_sme=True,
                    )
                )
                user_id = demo_id(researcher(index))
                name = f"压测研究员{index:03d}"
                session.add(User(id=user_id, username=researcher(index), display_name=name))
                await session.flush()
                session.add(Membership(user_id=user_id, organization_id=firm_id, role=Role.researcher))
                await add_grant(
                    session,
                    program,
                    firm_id,
                    GRANT_FEN,
                    "压测：年度创新券",
                    f"load:{index}",
                    demo_id("demo-science-bureau"),
                )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load.firms", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=50)
    asyncio.run(add_firms(parser.parse_args().count))


if __name__ == "__main__":
    main()
