"""No-shows and credit: after three no-shows within 90 days (the default rule) a researcher's new
bookings wait for the provider's approval for 30 days, the answer says why, and the standing
route shows the rule and the count."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import msgspec
import pytest

from booking.credit import NoShowRule, approval_required_until
from booking.settings import BookingSettings
from tests.booking.world import (
    QINGHE,
    booked_for_the_past,
    day_at,
    machine_time,
    make_instrument,
    make_user,
    set_calendar,
)
from tests.support import Backend
from yixiang.clock import SHANGHAI
from yixiang.db import utcnow

STANDING = "/api/v1/booking-standing"


def test_the_rule_is_met_by_enough_no_shows_close_enough_together() -> None:
    rule = NoShowRule(limit=3, period_days=90, approval_days=30)
    day = datetime(2026, 1, 1, tzinfo=SHANGHAI)
    at = [day, day + timedelta(days=50), day + timedelta(days=100)]
    assert approval_required_until(at, rule) is None  # never three within 90 days
    at.append(day + timedelta(days=120))
    assert approval_required_until(at, rule) == day + timedelta(days=150)  # days 50, 100, 120
    assert approval_required_until(at[:2], rule) is None


@pytest.fixture
def default_rule(backend: Backend) -> Iterator[None]:
    """The rule as shipped (3 no-shows in 90 days), in place of the suite's lenient one."""
    sections = backend.settings.__dict__["_sections"]
    lenient = sections[BookingSettings]
    sections[BookingSettings] = msgspec.structs.replace(lenient, no_show_limit=3)
    try:
        yield
    finally:
        sections[BookingSettings] = lenient


@pytest.mark.usefixtures("default_rule")
async def test_three_no_shows_put_new_bookings_on_approval_and_the_answer_says_why(client, login, backend):
    world = await make_instrument(backend)
    provider = await login("demo-provider")
    await set_calendar(client, provider, world.instrument_id)
    researcher = await login(await make_user(backend, QINGHE))
    colleague = await login(await make_user(backend, QINGHE))

    standing = await client.get(STANDING, headers=researcher)
    assert standing.status_code == 200, standing.text
    assert (
        standing.json()["rule"]["text"] == "90 天内未到场累计 3 次的，此后 30 天内的新预约须经仪器管理员审批"
    )
    assert standing.json()["no_shows"] == 0 and standing.json()["approval_required"] is False

    for n in range(3):
        booked = await client.post(
            "/api/v1/bookings",
            json=machine_time(world, day_at(1, 8 + n), day_at(1, 9 + n)),
            headers=researcher,
        )
        assert booked.status_code == 201 and booked.json()["status"] == "confirmed", booked.text
        assert booked.json()["approval_reason"] is None
        past = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=3 * (n + 1))
        await booked_for_the_past(backend, booked.json()["id"], past)
        marked = await client.post(f"/api/v1/bookings/{booked.json()['id']}/no-show", headers=provider)
        assert marked.status_code == 200, marked.text

    standing = (await client.get(STANDING, headers=researcher)).json()
    assert standing["no_shows"] == 3 and standing["approval_required"] is True
    assert "未到场已达 3 次" in standing["reason"] and standing["approval_required_until"]
    qinghe = next(f for f in standing["firms"] if f["enterprise_id"] == str(QINGHE))
    assert qinghe["no_shows"] >= 3

    held = await client.post(
        "/api/v1/bookings", json=machine_time(world, day_at(2, 9), day_at(2, 10)), headers=researcher
    )
    assert held.status_code == 201, held.text
    assert held.json()["status"] == "requested"
    assert held.json()["approval_reason"] == standing["reason"]
    shown = await client.get(f"/api/v1/bookings/{held.json()['id']}", headers=provider)
    assert shown.json()["approval_reason"] == standing["reason"]  # the provider sees why too
    approved = await client.post(f"/api/v1/bookings/{held.json()['id']}/approve", headers=provider)
    assert approved.status_code == 200 and approved.json()["status"] == "confirmed", approved.text

    # The rule holds back the researcher who did not come, not the firm's other researchers.
    theirs = await client.post(
        "/api/v1/bookings", json=machine_time(world, day_at(2, 11), day_at(2, 12)), headers=colleague
    )
    assert theirs.status_code == 201 and theirs.json()["status"] == "confirmed", theirs.text
    assert (await client.get(STANDING, headers=colleague)).json()["approval_required"] is False
