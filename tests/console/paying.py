"""A firm's researcher with a booking to pay, signed in to the console's phone pages (the
completed booking of ``tests.vouchers.paying``, the researcher given a password to sign in)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import update

from accounts.auth import hash_password
from accounts.demo import DEMO_PASSWORD
from accounts.models import User
from tests.console.desk import signed_in
from tests.support import Backend
from tests.vouchers.desk import VoucherDesk
from tests.vouchers.paying import DueBooking, completed_with_due


async def with_password(backend: Backend, condition: Any) -> httpx.AsyncClient:
    """The user ``condition`` picks, given the demo password and signed in to the console."""
    async with backend.runtime.session_maker() as session, session.begin():
        username = await session.scalar(
            update(User)
            .where(condition)
            .values(password_hash=hash_password(DEMO_PASSWORD))
            .returning(User.username)
        )
    assert username
    return await signed_in(backend, username)


async def payer(world: VoucherDesk) -> tuple[DueBooking, httpx.AsyncClient]:
    due = await completed_with_due(world)
    return due, await with_password(world.backend, User.wechat_openid == due.openid)


def pay_page(due: DueBooking) -> str:
    return f"/console/m/bookings/{due.booking_id}/pay"
