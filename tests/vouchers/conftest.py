"""Fixtures of the voucher tests (helpers live in ``tests/vouchers/desk.py``)."""

from __future__ import annotations

import pytest

from tests.support import Backend, Login
from tests.vouchers.desk import VoucherDesk


@pytest.fixture
def world(backend: Backend, login: Login) -> VoucherDesk:
    return VoucherDesk(backend, login)
