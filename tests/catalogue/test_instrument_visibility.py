"""Who may see an instrument, through every door that reads one: a published instrument is public;
a draft (or pending, or withdrawn) one exists only for its own unit's staff — for anyone else it is
"not found", on the public instrument page, its calendar and availability, booking creation, the
provider routes and in the WeChat bot alike. One rule (``catalogue.access``), asked by each."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from accounts.auth import MembershipView, Principal, principal_from_user
from accounts.demo import demo_id
from accounts.models import OrgKind, Role, User
from bot.adapters import build_ports
from catalogue.access import can_see_instrument
from catalogue.models import PublicationStatus
from tests.booking.world import ALWAYS_OPEN, day_at, iso, make_user
from tests.catalogue.helpers import instrument_body
from tests.support import error_code
from yixiang.errors import NotFound

PROVIDER = "/api/v1/provider/instruments"
ZJLG, HZCL = demo_id("unit-zjlg"), demo_id("unit-hzcl")


def member(unit_id: uuid.UUID, role: Role) -> Principal:
    view = MembershipView(unit_id, OrgKind.unit, "单位", role, "330100")
    return Principal(user_id=uuid.uuid4(), username="u", display_name="u", memberships=(view,))


@pytest.mark.parametrize("publication", list(PublicationStatus))
def test_the_rule_itself(publication: PublicationStatus) -> None:
    published = publication == PublicationStatus.published
    for principal in (None, member(HZCL, Role.provider_staff), member(ZJLG, Role.researcher)):
        assert can_see_instrument(principal, ZJLG, publication) is published
    for role in (Role.provider_staff, Role.unit_admin):
        assert can_see_instrument(member(ZJLG, role), ZJLG, publication) is True


class Draft:
    """An instrument 之江理工's staff have entered through the provider API but not yet published,
    with its calendar set (open around the clock) and its machine-time service item."""

    def __init__(self, instrument_id: str, item_id: str) -> None:
        self.id, self.item_id = instrument_id, item_id

    @classmethod
    async def enter(cls, client: Any, staff: dict[str, str]) -> Draft:
        created = await client.post(PROVIDER, json=instrument_body(), headers=staff)
        assert created.status_code == 201 and created.json()["publication"] == "draft", created.text
        body = created.json()
        [item] = [i for i in body["service_items"] if i["mode"] == "machine_time"]
        calendar = await client.put(f"{PROVIDER}/{body['id']}/calendar", json=ALWAYS_OPEN, headers=staff)
        assert calendar.status_code == 200, calendar.text
        return cls(str(body["id"]), str(item["id"]))

    async def publish(self, client: Any, staff: dict[str, str], unit_admin: dict[str, str]) -> None:
        for action, who in (("submit", staff), ("approve", unit_admin)):
            r = await client.post(f"{PROVIDER}/{self.id}/{action}", headers=who)
            assert r.status_code == 200, r.text

    def booking(self, days_ahead: int) -> dict[str, Any]:
        start = day_at(days_ahead, 10)
        return {
            "instrument_id": self.id,
            "mode": "machine_time",
            "operation": "operator",
            "start": iso(start),
            "end": iso(start + timedelta(hours=1)),
        }


async def reads(client: Any, draft: Draft, headers: dict[str, str]) -> dict[str, Any]:
    """The public reads of one instrument: its page, calendar and availability."""
    base = f"/api/v1/instruments/{draft.id}"
    return {
        "page": await client.get(base, headers=headers),
        "calendar": await client.get(f"{base}/calendar", headers=headers),
        "availability": await client.get(f"{base}/availability", headers=headers),
    }


async def bot_principal(backend: Any, username: str) -> Principal:
    """The user as the bot knows a bound follower (``bot.followers.principal_for``)."""
    async with backend.runtime.session_maker() as session:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None
        return principal_from_user(user)


@pytest.fixture
async def people(backend: Any, login: Any) -> dict[str, Any]:
    """Who asks: anonymous, a firm's researcher, another unit's staff; and 之江理工's own staff,
    its unit admin, and a member of its staff who also books as a researcher of the unit."""
    other_staff = await make_user(backend, HZCL, Role.provider_staff)
    staff_booker = await make_user(backend, ZJLG, Role.provider_staff)
    unit_admin = await login("demo-unit-admin")
    added = await backend.client.post(
        f"/api/v1/organizations/{ZJLG}/members",
        json={"username": staff_booker, "role": "researcher"},
        headers=unit_admin,
    )
    assert added.status_code == 201, added.text
    return {
        "anonymous": ({}, None),
        "firm researcher": (await login("demo-researcher"), "demo-researcher"),
        "other unit's staff": (await login(other_staff), other_staff),
        "own staff": (await login("demo-provider"), "demo-provider"),
        "own unit admin": (unit_admin, "demo-unit-admin"),
        "own staff who books": (await login(staff_booker), staff_booker),
    }


OUTSIDERS = ("anonymous", "firm researcher", "other unit's staff")
OWN = ("own staff", "own unit admin", "own staff who books")


async def test_an_unpublished_instrument_is_not_found_for_outsiders_on_every_api_route(
    client: Any, people: dict[str, Any]
) -> None:
    draft = await Draft.enter(client, people["own staff"][0])
    for who in OUTSIDERS:
        headers, _ = people[who]
        for route, response in (await reads(client, draft, headers)).items():
            assert response.status_code == 404, (who, route, response.text)
            assert error_code(response) == "instrument_not_found", (who, route)
    # (another unit's staff book for no firm: they are refused before the instrument is read)
    researcher = people["firm researcher"][0]
    booked = await client.post("/api/v1/bookings", json=draft.booking(2), headers=researcher)
    assert booked.status_code == 404 and error_code(booked) == "instrument_not_found", booked.text
    # the provider routes: another unit's staff are told it does not exist either
    other = people["other unit's staff"][0]
    shown = await client.get(f"{PROVIDER}/{draft.id}", headers=other)
    calendar = await client.put(f"{PROVIDER}/{draft.id}/calendar", json=ALWAYS_OPEN, headers=other)
    for response in (shown, calendar):
        assert response.status_code == 404 and error_code(response) == "instrument_not_found", response.text


async def test_its_own_units_staff_see_their_unpublished_instrument_everywhere(
    client: Any, people: dict[str, Any]
) -> None:
    draft = await Draft.enter(client, people["own staff"][0])
    for who in OWN:
        headers, _ = people[who]
        for route, response in (await reads(client, draft, headers)).items():
            assert response.status_code == 200, (who, route, response.text)
        shown = await client.get(f"{PROVIDER}/{draft.id}", headers=headers)
        assert shown.status_code == 200 and shown.json()["publication"] == "draft", (who, shown.text)
    # staff who also book for their unit may book it (e.g. a trial run before it is listed)
    booked = await client.post(
        "/api/v1/bookings", json=draft.booking(2), headers=people["own staff who books"][0]
    )
    assert booked.status_code == 201, booked.text


async def test_once_published_the_same_instrument_is_everyones(client: Any, people: dict[str, Any]) -> None:
    """The 404s above are the publication rule, not something else about the instrument."""
    draft = await Draft.enter(client, people["own staff"][0])
    await draft.publish(client, people["own staff"][0], people["own unit admin"][0])
    for who in OUTSIDERS:
        for route, response in (await reads(client, draft, people[who][0])).items():
            assert response.status_code == 200, (who, route, response.text)
    researcher = people["firm researcher"][0]
    booked = await client.post("/api/v1/bookings", json=draft.booking(3), headers=researcher)
    assert booked.status_code == 201, booked.text
    # managing stays the unit's own: the provider catalogue still hides it from another unit's
    # staff, booking's calendar route tells them it is not theirs
    other = people["other unit's staff"][0]
    shown = await client.get(f"{PROVIDER}/{draft.id}", headers=other)
    assert shown.status_code == 404 and error_code(shown) == "instrument_not_found"
    calendar = await client.put(f"{PROVIDER}/{draft.id}/calendar", json=ALWAYS_OPEN, headers=other)
    assert calendar.status_code == 403 and error_code(calendar) == "not_provider_staff"


async def test_the_bot_follows_the_same_rule(backend: Any, client: Any, people: dict[str, Any]) -> None:
    """The bot's instrument details and its booking-item lookup (quote, book) answer as the API:
    nothing for an outsider (the conversation then says the instrument is not available), the
    instrument for its own unit's staff."""
    draft = await Draft.enter(client, people["own staff"][0])
    ports = build_ports(backend.runtime)
    instrument_id, item_id = uuid.UUID(draft.id), uuid.UUID(draft.item_id)
    start = day_at(4, 10)
    window = {"start": start, "end": start + timedelta(hours=1), "samples": None}
    assert await ports.catalog.details(instrument_id, None) is None
    for who in ("firm researcher", "other unit's staff"):
        principal = await bot_principal(backend, people[who][1])
        assert await ports.catalog.details(instrument_id, principal) is None, who
        with pytest.raises(NotFound) as refused:
            await ports.bookings.quote(principal, item_id, **window)
        assert refused.value.message == "未找到该检测项目", who
    for who in OWN:
        principal = await bot_principal(backend, people[who][1])
        details = await ports.catalog.details(instrument_id, principal)
        assert details is not None and details.id == instrument_id, who
        quote = await ports.bookings.quote(principal, item_id, **window)
        assert quote.fee_fen > 0, who
