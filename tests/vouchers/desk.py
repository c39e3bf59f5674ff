"""The voucher side of a test, built through the API a bureau uses (programmes, grants) and the
checkout interface booking calls (holds, captures, releases). Firms and units are new
organisations per test, so the shared database's other data never changes what a test sees."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from accounts.demo import demo_id
from accounts.models import Membership, Organization, OrgKind, Role, User
from tests.support import Backend, Login
from vouchers.checkout import CheckoutOrder
from vouchers.ledger import grant_account, hold_account
from vouchers.models import LedgerAccount
from yixiang.clock import shanghai_date
from yixiang.db import utcnow


def today() -> date:
    """Today in Shanghai, asked each time: a run that crosses midnight there moves on with it."""
    return shanghai_date(utcnow())


UNIT_ZJLG = demo_id("unit-zjlg")


async def new_org(backend: Backend, kind: OrgKind = OrgKind.enterprise, **values: Any) -> uuid.UUID:
    org_id = uuid.uuid4()
    async with backend.runtime.session_maker() as session, session.begin():
        session.add(
            Organization(
                id=org_id,
                kind=kind,
                name=values.pop("name", f"测试{kind.value}-{org_id.hex[:6]}"),
                region_code=values.pop("region_code", "330100"),
                is_tech_sme=values.pop("is_tech_sme", True),
                uscc=values.pop("uscc", None),
                **values,
            )
        )
    return org_id


async def new_user(backend: Backend, org_id: uuid.UUID, role: Role) -> str:
    username = f"u-{uuid.uuid4().hex[:10]}"
    async with backend.runtime.session_maker() as session, session.begin():
        user = User(username=username, display_name=username)
        session.add(user)
        await session.flush()
        session.add(Membership(user_id=user.id, organization_id=org_id, role=role))
    return username


def program_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"测试创新券-{uuid.uuid4().hex[:6]}",
        "year": today().year,
        "budget_fen": 100_000_000,
        "coverage_bp": 5000,
        "per_order_cap_fen": 2_000_000,
        "per_firm_year_cap_fen": 10_000_000,
        "valid_from": str(today() - timedelta(days=30)),
        "valid_until": str(today() + timedelta(days=365)),
        "accepted_region_codes": ["330000"],
        "cross_region": True,
    }
    body.update(overrides)
    return body


class VoucherDesk:
    """A bureau's voucher desk as a test uses it: programmes and grants through the bureau's API,
    checkout calls made the way booking makes them, and balances read back from the ledger."""

    def __init__(self, backend: Backend, login: Login) -> None:
        self.backend = backend
        self.client = backend.client
        self.login = login
        self._headers: dict[str, dict[str, str]] = {}

    async def headers(self, username: str) -> dict[str, str]:
        if username not in self._headers:
            self._headers[username] = await self.login(username)
        return self._headers[username]

    async def bureau(self) -> dict[str, str]:
        return await self.headers("demo-science-bureau")

    async def program(self, **overrides: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/voucher-programs", json=program_body(**overrides), headers=await self.bureau()
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def grant(self, program_id: str, firm_id: uuid.UUID, amount_fen: int) -> dict[str, Any]:
        response = await self.client.post(
            f"/api/v1/voucher-programs/{program_id}/grants",
            json={"enterprise_id": str(firm_id), "amount_fen": amount_fen},
            headers=await self.bureau(),
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def firm_with_grant(self, amount_fen: int, **program: Any) -> tuple[uuid.UUID, dict[str, Any]]:
        firm = await new_org(self.backend)
        prog = await self.program(**program)
        await self.grant(prog["id"], firm, amount_fen)
        return firm, prog

    async def run(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        """Call a checkout function the way booking does: inside its own open transaction."""
        async with self.backend.runtime.session_maker() as session, session.begin():
            return await fn(session, *args, **kwargs)

    async def balances(self, grant_id: str) -> tuple[int, int]:
        """(available, held) of one grant, as the ledger's cached balances say."""
        async with self.backend.runtime.session_maker() as session:
            rows = dict(
                (
                    await session.execute(
                        select(LedgerAccount.code, LedgerAccount.balance_fen).where(
                            LedgerAccount.code.in_(
                                [grant_account(uuid.UUID(grant_id)), hold_account(uuid.UUID(grant_id))]
                            )
                        )
                    )
                ).all()
            )
        return rows[grant_account(uuid.UUID(grant_id))], rows[hold_account(uuid.UUID(grant_id))]


def order(
    firm: uuid.UUID,
    fee_fen: int,
    *,
    booking_id: uuid.UUID | None = None,
    unit_id: uuid.UUID = UNIT_ZJLG,
    region_code: str = "330100",
    category_code: str = "0201",
    voucher_eligible: bool = True,
) -> CheckoutOrder:
    booking_id = booking_id or uuid.uuid4()
    return CheckoutOrder(
        booking_id=booking_id,
        enterprise_id=firm,
        unit_id=unit_id,
        instrument_id=uuid.uuid4(),
        region_code=region_code,
        category_code=category_code,
        voucher_eligible=voucher_eligible,
        fee_fen=fee_fen,
        actor_id=None,
        booking_number=f"YX{today():%Y%m%d}-{booking_id.hex[:6].upper()}",  # as booking numbers it
    )


def at(d: date) -> str:
    return d.isoformat()
