"""Fixtures of the voucher tests (helpers live in ``tests/vouchers/desk.py``)."""

from __future__ import annotations

import pytest

from tests.support import Backend, Login
from tests.vouchers.desk import VoucherDesk


@pytest.fixture
def world(backend: Backend, login: Login) -> VoucherDesk:
    return VoucherDesk(backend, login)


# the fake WeChat Pay server and the app's WeChat Pay service talking to it (refunds, reconciliation)
from tests.vouchers.paydesk import wechat_pay  # noqa: E402, F401
