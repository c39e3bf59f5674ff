"""Rating as evidence (seed 004 §(十一)): a booking's chain is complete once the firm rated, or once
the rating window (ratings' YIXIANG_RATING_WINDOW_DAYS after delivery) passed without a rating;
until then its voucher share waits. The statement and the settlement batch say which."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from accounts.models import OrgKind, Role
from ratings.settings import RatingsSettings
from tests.vouchers.desk import VoucherDesk, new_org, new_user, order
from vouchers.checkout import capture_voucher_share, hold_voucher_share, record_evidence
from vouchers.evidence import RatingStatus, completeness, rating_window
from yixiang.db import utcnow

DELIVERED = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
CHAIN = {"booking": DELIVERED, "usage": DELIVERED, "payment": DELIVERED, "delivery": DELIVERED}
WINDOW = timedelta(days=30)


def test_a_rated_booking_is_complete_at_once() -> None:
    chain = completeness({**CHAIN, "rating": DELIVERED + timedelta(hours=1)}, WINDOW, DELIVERED)
    assert chain.complete and chain.rating == RatingStatus.rated and chain.rating_window_closes_at is None


def test_an_unrated_booking_waits_until_the_window_has_passed() -> None:
    closes = DELIVERED + WINDOW
    waiting = completeness(CHAIN, WINDOW, closes - timedelta(seconds=1))
    assert (waiting.missing, waiting.rating, waiting.rating_window_closes_at) == (
        ["rating"],
        RatingStatus.waiting,
        closes,
    )
    passed = completeness(CHAIN, WINDOW, closes)
    assert passed.complete and passed.rating == RatingStatus.window_passed


def test_before_delivery_the_rating_is_missing_with_the_rest() -> None:
    undelivered = {k: v for k, v in CHAIN.items() if k != "delivery"}
    chain = completeness(undelivered, WINDOW, DELIVERED + 2 * WINDOW)
    assert chain.missing == ["delivery", "rating"] and chain.rating_window_closes_at is None


def test_without_the_ratings_domain_no_rating_is_asked_for() -> None:
    assert completeness(CHAIN, None, DELIVERED).complete
    assert rating_window(object()) is None


async def test_the_app_settles_on_the_window_ratings_enforces(world: VoucherDesk) -> None:
    expected = RatingsSettings.of(world.backend.settings).window_days
    assert rating_window(world.backend.app.state) == timedelta(days=expected)


async def _delivered(world: VoucherDesk, days_ago: int) -> tuple[str, dict[str, str]]:
    firm, _ = await world.firm_with_grant(1_000_000)
    unit = await new_org(world.backend, kind=OrgKind.unit)
    staff = await world.headers(await new_user(world.backend, unit, Role.provider_staff))
    o = order(firm, 10_000, unit_id=unit)
    await world.run(hold_voucher_share, o)
    await world.run(capture_voucher_share, o)
    for kind in ("booking", "usage", "payment"):
        await world.run(record_evidence, o.booking_id, kind, at=utcnow(), detail={})
    delivered = utcnow() - timedelta(days=days_ago)
    await world.run(record_evidence, o.booking_id, "delivery", at=delivered, detail={})
    return str(o.booking_id), staff


async def test_the_statement_counts_an_unrated_booking_complete_once_the_window_passed(
    world: VoucherDesk,
) -> None:
    window = RatingsSettings.of(world.backend.settings).window_days
    recent, staff = await _delivered(world, days_ago=window - 1)
    url = f"/api/v1/bookings/{recent}/statement"
    body = (await world.client.get(url, headers=staff)).json()
    assert body["evidence"]["rating"] is None and not body["evidence_complete"]
    # the firm rates (booking reports it as the rating link): complete
    await world.run(record_evidence, uuid.UUID(recent), "rating", at=utcnow(), detail={})
    assert (await world.client.get(url, headers=staff)).json()["evidence_complete"]

    old, staff = await _delivered(world, days_ago=window + 1)
    body = (await world.client.get(f"/api/v1/bookings/{old}/statement", headers=staff)).json()
    assert body["evidence"]["rating"] is None and body["evidence_complete"]
