"""The authorisation matrix: every route × every demo role × own/other firm, unit and region → the
status a user gets, on real objects made through the API (bookings of two firms, results, a rating,
organisations, catalogue instruments, voucher programmes and grants, statements, settlement
batches of two regions). Routes are read from the app, so a new route without a row here fails
the test.

Denied callers all hit the same object; each allowed caller of a state-changing route gets a
fresh object (so "allowed" means the action really succeeds, not just that it got past a guard).
After the denied calls the object is checked to be unchanged.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from accounts.demo import ACCOUNTS, demo_id
from accounts.models import Role
from bot.settings import WeChatSettings
from catalogue.models import Instrument as CatalogueInstrument
from oversight.idle import check_idle
from tests.booking.world import (
    ALWAYS_OPEN,
    booked_for_the_past,
    iso,
    machine_time,
    make_instrument,
    make_user,
    set_calendar,
)
from tests.catalogue.helpers import as_csv, instrument_body
from tests.catalogue.helpers import row as import_row
from tests.results.flow import upload
from tests.support import error_code
from tests.vouchers.desk import VoucherDesk, new_org, order, program_body
from tests.vouchers.paying import wechat_pay_in
from vouchers.checkout import capture_voucher_share, hold_voucher_share, record_evidence
from yixiang.clock import shanghai_date
from yixiang.db import utcnow

ANON = "anonymous"
R1, R2, FA = "demo-researcher", "demo-researcher-2", "demo-firm-admin"  # R1, FA: 青禾; R2: 蓝湾
P, UA = "demo-provider", "demo-unit-admin"  # 之江理工 staff
SB, FB, PA = "demo-science-bureau", "demo-finance-bureau", "demo-admin"
RN, NB = "demo-researcher-nb", "demo-science-bureau-nb"  # 宁波: 海韵's researcher, its bureau
ROLES = [ANON, *[username for username, *_ in ACCOUNTS]]
assert set(ROLES) == {ANON, R1, R2, FA, P, UA, SB, FB, PA, RN, NB}, "a new demo role needs its column here"

QINGHE, ZJLG, HZCL, HZ_SCI, NB_SCI = (
    demo_id("firm-qinghe"),
    demo_id("unit-zjlg"),
    demo_id("unit-hzcl"),
    demo_id("bureau-hz-sci"),
    demo_id("bureau-nb-sci"),  # 宁波: another region's bureau (NB's)
)
PROVIDER = "/api/v1/provider/instruments"
PROGRAMS, SETTLEMENTS = "/api/v1/voucher-programs", "/api/v1/settlements"
APPLICATIONS = "/api/v1/voucher-applications"
CLEARING = "/api/v1/clearing-statements"
INVOICE = {
    "kind": "ordinary",
    "title": "杭州青禾生物科技有限公司",
    "tax_number": "91330106MA2AAAAA1B",
    "email": "cw@qinghe.example.cn",
}
INVOICE_PDF = b"%PDF-1.7\n" + b"0" * 64
INVOICE_NUMBER = "25332000000012345678"
DAYS, DAY = "/api/v1/admin/working-days", "2099-01-05"  # a year no other test looks at
EVIDENCE = ("booking", "usage", "payment", "delivery", "rating")  # what settlement pays for
SLOTS = itertools.count()
PAST_SLOTS = itertools.count()  # hours back from now: each used booking gets its own
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


def expect(default: int, anonymous: int = 401, **roles: int) -> dict[str, int]:
    """Expected status per role: ``default`` for every signed-in role unless named."""
    table = {role: default for role in ROLES}
    table[ANON] = anonymous
    for key, status in roles.items():
        table[key.replace("_", "-")] = status
    return table


def only(allowed: int, who: list[str], others: int, anonymous: int = 401) -> dict[str, int]:
    table = expect(others, anonymous)
    for role in who:
        table[role] = allowed
    return table


Make = Callable[[], Awaitable[tuple[str, Any]]]


@dataclass
class Case:
    route: str  # "METHOD /path/template" exactly as the app declares it
    make: Make  # -> (concrete path, json body or None)
    expected: dict[str, int]
    fresh: bool = False  # allowed callers each get a new object from ``make``
    check_unchanged: Callable[[str], Awaitable[Any]] | None = None
    upload: bool = False
    tag: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


class Scene:
    """The objects the matrix is evaluated on, made through the API."""

    def __init__(self, backend: Any, client: Any, login: Any) -> None:
        self.backend, self.client, self.login = backend, client, login
        self.headers: dict[str, dict[str, str]] = {}
        self.granted = False

    async def setup(self) -> None:
        for role in ROLES:
            self.headers[role] = {} if role == ANON else await self.login(role)
        self.world = await make_instrument(self.backend)  # 之江理工, books at once
        await set_calendar(self.client, self.headers[P], self.world.instrument_id)
        self.approval = await make_instrument(self.backend)  # 之江理工, needs approval
        await set_calendar(self.client, self.headers[P], self.approval.instrument_id, needs_approval=True)
        self.other_unit = await make_instrument(self.backend, unit_id=HZCL)  # 杭州材料院
        hzcl_staff = await self.login(await make_user(self.backend, HZCL, Role.provider_staff))
        await set_calendar(self.client, hzcl_staff, self.other_unit.instrument_id)
        from catalogue.models import PublicationStatus

        self.draft = await make_instrument(self.backend, publication=PublicationStatus.draft)
        self.own = await self.booking(R1)
        self.others = await self.booking(R2)
        self.own_elsewhere = await self.booking(R1, world=self.other_unit)
        self.delivered, self.file_id = await self.delivered_booking()
        self.rating = await self.rated()
        # catalogue: an instrument of 之江理工 made through the provider API
        self.editable = await self.catalogued("draft")
        # vouchers: 杭州's programme with a grant, R1's captured voucher share, a draft batch; and
        # 宁波's programme and batch (another region: 杭州's bureaus do not see them)
        self.vouchers = VoucherDesk(self.backend, self.login)
        self.program = str((await self.vouchers.program())["id"])
        uscc = f"91330106{uuid.uuid4().hex[:10].upper()}"
        self.grantee, self.grantee_uscc = await new_org(self.backend, uscc=uscc), uscc
        self.grant = str((await self.vouchers.grant(self.program, self.grantee, 100_000))["id"])
        self.captured = await self.completed()
        r = await self.client.post(
            f"/api/v1/bookings/{self.captured}/payment-orders",
            json={"channel": "native"},
            headers=self.headers[R1],
        )
        assert r.status_code == 201, r.text
        self.payment_order = str(r.json()["out_trade_no"])
        # A second 杭州 science officer draws and submits the batches the matrix acts on, so
        # that either demo bureau may approve them (four eyes).
        self.clerk = await self.login(await make_user(self.backend, HZ_SCI, Role.bureau_officer))
        self.batch = await self.settlement("draft")
        self.nb_program, self.nb_batch = await self.other_region()
        self.invoiced = await self.invoice_issued()

    # --- object factories (each through the API) ---------------------------------------------
    def slot(self) -> tuple[Any, Any]:
        n = next(SLOTS)
        start = (utcnow() + timedelta(days=1, hours=n)).replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)

    async def used_in_the_past(self, booking_id: str) -> Any:
        """Move a checked-in booking to an hour of its own that has passed; its start."""
        now = utcnow().replace(minute=0, second=0, microsecond=0)
        start = now - timedelta(hours=2 + next(PAST_SLOTS))
        await booked_for_the_past(self.backend, booking_id, start)
        return start

    def booking_body(self, world: VoucherDesk | None = None) -> dict[str, Any]:
        start, end = self.slot()
        return machine_time(world or self.world, start, end)

    async def booking(self, who: str, world: VoucherDesk | None = None) -> str:
        world = world or self.world
        response = await self.client.post(
            "/api/v1/bookings", json=self.booking_body(world), headers=self.headers[who]
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def requested(self) -> str:
        response = await self.client.post(
            "/api/v1/bookings", json=self.booking_body(self.approval), headers=self.headers[R1]
        )
        assert response.status_code == 201 and response.json()["status"] == "requested", response.text
        return str(response.json()["id"])

    async def due(self, world: Any = None) -> str:
        """R1's confirmed booking whose slot begins now: the provider may check the user in."""
        booking_id = await self.booking(R1, world)
        await booked_for_the_past(self.backend, booking_id, utcnow())
        return booking_id

    async def checked_in(self) -> str:
        booking_id = await self.due()
        r = await self.client.post(f"/api/v1/bookings/{booking_id}/check-in", headers=self.headers[P])
        assert r.status_code == 200, r.text
        return booking_id

    async def completed(self) -> str:
        booking_id = await self.checked_in()
        actual = await self.used_in_the_past(booking_id)
        r = await self.client.post(
            f"/api/v1/bookings/{booking_id}/complete",
            json={"actual_start": iso(actual), "actual_end": iso(actual + timedelta(minutes=60))},
            headers=self.headers[P],
        )
        assert r.status_code == 200, r.text
        return booking_id

    async def delivered_booking(self) -> tuple[str, str]:
        booking_id = await self.completed()
        r = await upload(self.client, self.headers[P], booking_id, [("sem.png", PNG)])
        assert r.status_code == 201, r.text
        return booking_id, str(r.json()["items"][0]["id"])

    async def rated(self) -> str:
        booking_id, _ = await self.delivered_booking()
        r = await self.client.post(
            f"/api/v1/bookings/{booking_id}/rating", json=RATING, headers=self.headers[R1]
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def status_of(self, booking_id: str) -> tuple[str, int]:
        r = await self.client.get(f"/api/v1/bookings/{booking_id}", headers=self.headers[PA])
        assert r.status_code == 200, r.text
        return r.json()["status"], len(r.json()["history"])

    # --- catalogue ------------------------------------------------------------------------------
    async def catalogued(self, publication: str) -> str:
        """A new instrument of 之江理工 (through the provider API), taken to ``publication``."""
        r = await self.client.post(PROVIDER, json=instrument_body(), headers=self.headers[P])
        assert r.status_code == 201, r.text
        instrument_id = str(r.json()["id"])
        steps = [("submit", P), ("approve", UA)][: ["draft", "pending", "published"].index(publication)]
        for action, who in steps:
            r = await self.client.post(f"{PROVIDER}/{instrument_id}/{action}", headers=self.headers[who])
            assert r.status_code == 200, r.text
        return instrument_id

    async def publication_of(self, instrument_id: str) -> str:
        r = await self.client.get(f"{PROVIDER}/{instrument_id}", headers=self.headers[UA])
        assert r.status_code == 200, r.text
        return str(r.json()["publication"])

    # --- vouchers -------------------------------------------------------------------------------
    def period(self) -> dict[str, str]:
        today = shanghai_date(utcnow())
        return {
            "period_start": str(today - timedelta(days=1)),
            "period_end": str(today + timedelta(days=1)),
        }

    async def fully_evidenced(self) -> str:
        """R1's booking, completed, delivered, rated and paid: a line a settlement batch pays."""
        if not self.granted:  # the suite shares one database: the demo's grant may be spent
            program = await self.vouchers.program()
            await self.vouchers.grant(program["id"], QINGHE, 1_000_000)
            self.granted = True
        booking_id, _ = await self.delivered_booking()
        r = await self.client.post(
            f"/api/v1/bookings/{booking_id}/rating", json={"overall": 5}, headers=self.headers[R1]
        )
        assert r.status_code == 201, r.text
        r = await self.client.post(
            f"/api/v1/bookings/{booking_id}/payment-received",
            json={"reference": "对公-矩阵"},
            headers=self.headers[P],
        )
        assert r.status_code == 200 and r.json()["evidence_complete"], r.text
        assert r.json()["voucher_fen"] > 0, r.text  # a share the bureau owes the provider
        return booking_id

    async def paid(self) -> str:
        """R1's completed booking whose payment the provider recorded: it may be invoiced."""
        booking_id = await self.completed()
        r = await self.client.post(
            f"/api/v1/bookings/{booking_id}/payment-received",
            json={"reference": "对公-矩阵"},
            headers=self.headers[P],
        )
        assert r.status_code == 200, r.text
        return booking_id

    async def invoice_requested(self) -> str:
        booking_id = await self.paid()
        r = await self.client.post(
            f"/api/v1/bookings/{booking_id}/invoice", json=INVOICE, headers=self.headers[R1]
        )
        assert r.status_code == 201, r.text
        return booking_id

    async def invoice_issued(self) -> str:
        booking_id = await self.invoice_requested()
        r = await issue_invoice(self.client, f"/api/v1/bookings/{booking_id}/invoice/issue", self.headers[P])
        assert r.status_code == 200, r.text
        return booking_id

    async def invoice_state(self, booking_id: str) -> tuple[int, Any]:
        r = await self.client.get(f"/api/v1/bookings/{booking_id}/invoice", headers=self.headers[PA])
        return r.status_code, r.json().get("status")

    async def settlement(self, status: str) -> str:
        """A new batch of 杭州 with at least one payable line, taken to ``status`` by the clerk
        (the approval by the finance bureau: not the submitter)."""
        await self.fully_evidenced()
        r = await self.client.post(SETTLEMENTS, json=self.period(), headers=self.clerk)
        assert r.status_code == 201, r.text
        batch_id = str(r.json()["id"])
        steps = [
            ("submit", self.clerk, None),
            ("approve", self.headers[FB], None),
            ("mark-paid", self.headers[FB], {"bank_reference": "ICBC-MATRIX"}),
        ][: ["draft", "submitted", "approved", "paid"].index(status)]
        for action, headers, body in steps:
            r = await self.client.post(f"{SETTLEMENTS}/{batch_id}/{action}", json=body, headers=headers)
            assert r.status_code == 200, r.text
        return batch_id

    async def batch_state(self, batch_id: str) -> tuple[str, int]:
        r = await self.client.get(f"{SETTLEMENTS}/{batch_id}", headers=self.headers[PA])
        assert r.status_code == 200, r.text
        return r.json()["status"], r.json()["total_fen"]

    async def statement_state(self, booking_id: str) -> tuple[Any, ...]:
        r = await self.client.get(f"/api/v1/bookings/{booking_id}/statement", headers=self.headers[PA])
        assert r.status_code == 200, r.text
        body = r.json()
        return body["voucher_fen"], body["refunded_fen"], body["payment_received_at"]

    async def new_program(self) -> str:
        """A new 杭州 programme (with this matrix's SB token: signing out revokes older ones)."""
        r = await self.client.post(PROGRAMS, json=program_body(), headers=self.headers[SB])
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def application(self, *, returned: bool = False) -> str:
        """A new application of 青禾 (FA) under a new 杭州 programme, submitted or returned."""
        body = {
            "program_id": await self.new_program(),
            "enterprise_id": str(QINGHE),
            "requested_fen": 100_000,
            "contact_name": "矩阵",
            "contact_phone": "0571-88886666",
            "tech_sme_number": "202633010600123",
        }
        r = await self.client.post(APPLICATIONS, json=body, headers=self.headers[FA])
        assert r.status_code == 201, r.text
        application_id = str(r.json()["id"])
        if returned:
            url = f"{APPLICATIONS}/{application_id}/return"
            r = await self.client.post(url, json={"reason": "矩阵"}, headers=self.headers[SB])
            assert r.status_code == 200, r.text
        return application_id

    async def program_state(self, program_id: str) -> tuple[int, int]:
        shown = await self.client.get(f"{PROGRAMS}/{program_id}", headers=self.headers[PA])
        grants = await self.client.get(f"{PROGRAMS}/{program_id}/grants", headers=self.headers[PA])
        assert shown.status_code == grants.status_code == 200, (shown.text, grants.text)
        return shown.json()["budget_available_fen"], len(grants.json())

    async def other_region(self) -> tuple[str, str]:
        """宁波's programme, a 宁波 firm's share captured under it, and 宁波's batch paying it."""
        ningbo = await self.login(await make_user(self.backend, NB_SCI, Role.bureau_officer))
        r = await self.client.post(PROGRAMS, json=program_body(), headers=ningbo)
        assert r.status_code == 201, r.text
        program_id = str(r.json()["id"])
        firm = await new_org(self.backend, region_code="330200")
        r = await self.client.post(
            f"{PROGRAMS}/{program_id}/grants",
            json={"enterprise_id": str(firm), "amount_fen": 100_000},
            headers=ningbo,
        )
        assert r.status_code == 201, r.text
        share = order(firm, 20_000)  # at 之江理工, through the checkout interface booking calls
        await self.vouchers.run(hold_voucher_share, share)
        await self.vouchers.run(capture_voucher_share, share)
        for kind in EVIDENCE:
            await self.vouchers.run(record_evidence, share.booking_id, kind, at=utcnow(), detail={})
        r = await self.client.post(SETTLEMENTS, json=self.period(), headers=ningbo)
        assert r.status_code == 201 and r.json()["region_code"] == "330200", r.text
        return program_id, str(r.json()["id"])

    async def new_member_of_qinghe(self) -> uuid.UUID:
        username = await make_user(self.backend, demo_id("firm-lanwan"))
        r = await self.client.post(
            f"/api/v1/organizations/{QINGHE}/members",
            json={"username": username, "role": "researcher"},
            headers=self.headers[FA],
        )
        assert r.status_code == 201, r.text
        return uuid.UUID(r.json()["user_id"])

    async def qualification(self) -> str:
        username = await make_user(self.backend, QINGHE)
        r = await self.client.post(
            "/api/v1/provider/qualifications",
            json=self.qualification_body(username),
            headers=self.headers[P],
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def qualification_body(self, username: str) -> dict[str, Any]:
        return {
            "username": username,
            "unit_id": str(ZJLG),
            "instrument_id": str(self.world.instrument_id),
            "expires_on": (utcnow() + timedelta(days=30)).date().isoformat(),
        }

    def closure_body(self) -> dict[str, Any]:
        start, _ = self.slot()
        start = start + timedelta(days=30)
        return {"start": iso(start), "end": iso(start + timedelta(hours=1)), "reason": "维护"}

    async def closure(self) -> str:
        r = await self.client.post(
            f"/api/v1/provider/instruments/{self.world.instrument_id}/closures",
            json=self.closure_body(),
            headers=self.headers[P],
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


RATING = {
    "overall": 5,
    "dimensions": {"timeliness": 5, "data_quality": 4, "professionalism": 5, "value": 4},
    "comment": "数据清晰",
}


def fixed(path: str, body: Any = None) -> Make:
    async def make() -> tuple[str, Any]:
        return path, body

    return make


def cases(s: Scene) -> list[Case]:
    w, own, others, elsewhere = s.world.instrument_id, s.own, s.others, s.own_elsewhere
    B = "/api/v1/bookings"

    def transition_on(factory: Callable[[], Awaitable[str]], action: str, body: Any = None) -> Make:
        async def make() -> tuple[str, Any]:
            return f"{B}/{await factory()}/{action}", body

        return make

    def invoice_of(factory: Callable[[], Awaitable[str]], step: str, body: Any = None) -> Make:
        async def make() -> tuple[str, Any]:
            return f"{B}/{await factory()}/invoice{step}", body

        return make

    async def confirmed_r1() -> str:
        return await s.booking(R1)

    async def due_r1() -> str:
        # on an instrument of its own: a booking checked in keeps its slot, which begins now
        world = await make_instrument(s.backend)
        await set_calendar(s.client, s.headers[P], world.instrument_id)
        return await s.due(world)

    async def complete_body() -> tuple[str, Any]:
        booking_id = await s.checked_in()
        actual = await s.used_in_the_past(booking_id)
        return f"{B}/{booking_id}/complete", {
            "actual_start": iso(actual),
            "actual_end": iso(actual + timedelta(minutes=30)),
        }

    async def new_booking() -> tuple[str, Any]:
        return B, s.booking_body()

    async def new_booking_as_quote() -> tuple[str, Any]:
        return "/api/v1/quotes", s.booking_body()

    async def results_of_completed() -> tuple[str, Any]:
        return f"{B}/{await s.completed()}/results", None

    async def rating_of_delivered() -> tuple[str, Any]:
        booking_id, _ = await s.delivered_booking()
        return f"{B}/{booking_id}/rating", RATING

    async def reply_to_new_rating() -> tuple[str, Any]:
        return f"/api/v1/ratings/{await s.rated()}/reply", {"reply": "感谢评价"}

    async def hide_new_rating() -> tuple[str, Any]:
        return f"/api/v1/ratings/{await s.rated()}/hide", {"reason": "含不当言论"}

    async def add_member() -> tuple[str, Any]:
        username = await make_user(s.backend, demo_id("firm-lanwan"))
        return f"/api/v1/organizations/{QINGHE}/members", {"username": username, "role": "researcher"}

    async def remove_member() -> tuple[str, Any]:
        return f"/api/v1/organizations/{QINGHE}/members/{await s.new_member_of_qinghe()}", None

    async def grant() -> tuple[str, Any]:
        return "/api/v1/provider/qualifications", s.qualification_body(await make_user(s.backend, QINGHE))

    async def revoke() -> tuple[str, Any]:
        return f"/api/v1/provider/qualifications/{await s.qualification()}/revoke", None

    async def add_closure() -> tuple[str, Any]:
        return f"/api/v1/provider/instruments/{w}/closures", s.closure_body()

    async def remove_closure() -> tuple[str, Any]:
        return f"/api/v1/provider/instruments/{w}/closures/{await s.closure()}", None

    async def download_link() -> tuple[str, Any]:
        r = await s.client.get(f"{B}/{s.delivered}/results", headers=s.headers[R1])
        return str(r.json()["items"][0]["download_url"]), None

    def publication(source: str, action: str) -> Make:
        async def make() -> tuple[str, Any]:
            return f"{PROVIDER}/{await s.catalogued(source)}/{action}", None

        return make

    async def new_instrument() -> tuple[str, Any]:
        return PROVIDER, instrument_body()

    def import_file_for(unit: uuid.UUID | None) -> Make:
        async def make() -> tuple[str, Any]:
            path = f"{PROVIDER}/import" + (f"?unit={unit}" if unit else "")
            return path, as_csv([import_row(f"M-{uuid.uuid4().hex[:12]}")])

        return make

    import_file = import_file_for(None)

    async def day_override() -> tuple[str, Any]:
        r = await s.client.put(
            f"{DAYS}/{DAY}", json={"is_working_day": False, "name": "矩阵测试"}, headers=s.headers[PA]
        )
        assert r.status_code == 200, r.text
        return f"{DAYS}/{DAY}", None

    async def new_program() -> tuple[str, Any]:
        return PROGRAMS, program_body()

    async def new_application() -> tuple[str, Any]:
        body = {
            "program_id": await s.new_program(),
            "enterprise_id": str(QINGHE),
            "requested_fen": 100_000,
            "contact_name": "矩阵",
            "contact_phone": "0571-88886666",
            "tech_sme_number": "202633010600123",
        }
        return APPLICATIONS, body

    def on_application(action: str = "", *, returned: bool = False, body: Any = None) -> Make:
        async def make() -> tuple[str, Any]:
            application_id = await s.application(returned=returned)
            path = f"{APPLICATIONS}/{application_id}" + (f"/{action}" if action else "")
            if body == "resubmit":
                shown = (await s.client.get(path, headers=s.headers[FA])).json()
                keys = ("program_id", "enterprise_id", "requested_fen", "contact_name", "contact_phone")
                return path, {k: shown[k] for k in keys} | {"tech_sme_number": "202633010600123"}
            return path, body

        return make

    async def an_attachment() -> tuple[str, Any]:
        application_id = await s.application()
        r = await s.client.post(
            f"{APPLICATIONS}/{application_id}/attachments",
            files={"file": ("证书.pdf", b"%PDF-1.7\n0")},
            headers=s.headers[FA],
        )
        assert r.status_code == 201, r.text
        return str(r.json()["attachments"][0]["url"]), None

    async def new_settlement() -> tuple[str, Any]:
        await s.fully_evidenced()  # something to draw
        return SETTLEMENTS, s.period()

    def by_number(booking_id: str) -> Make:
        """The booking as a person names it: by its number (read as the platform admin)."""

        async def make() -> tuple[str, Any]:
            shown = await s.client.get(f"/api/v1/bookings/{booking_id}", headers=s.headers[PA])
            return f"/api/v1/bookings/by-number/{shown.json()['number']}", None

        return make

    def batch_in(status: str, action: str, body: Any) -> Make:
        async def make() -> tuple[str, Any]:
            return f"{SETTLEMENTS}/{await s.settlement(status)}/{action}", body

        return make

    # --- waiting list, calendar feeds, weekly series (issue 24) ----------------------------------
    WL, FEEDS, SERIES = "/api/v1/waitlist", "/api/v1/calendar-feeds", "/api/v1/booking-series"

    holder: dict[str, dict[str, str]] = {}

    async def taken_range() -> tuple[str, Any]:
        """A range a researcher outside the matrix's roles has just booked: one to wait for
        (nobody may wait for a range of their own)."""
        if not holder:
            holder["headers"] = await s.login(await make_user(s.backend, QINGHE))
        body = s.booking_body()
        r = await s.client.post(B, json=body, headers=holder["headers"])
        assert r.status_code == 201, r.text
        return WL, body

    def offer_to_r1(action: str) -> Make:
        """R1 waits for R2's range, R2 cancels: the range is offered to R1."""

        async def make() -> tuple[str, Any]:
            _, body = await taken_range()
            joined = await s.client.post(WL, json=body, headers=s.headers[R1])
            assert joined.status_code == 201, joined.text
            listed = await s.client.get(f"{B}?instrument_id={w}&mine=true", headers=holder["headers"])
            booking = next(b for b in listed.json()["items"] if b["start"] == joined.json()["start"])
            r = await s.client.post(f"{B}/{booking['id']}/cancel", headers=holder["headers"])
            assert r.status_code == 200, r.text
            return f"{WL}/{joined.json()['id']}/{action}", None

        return make

    async def feed_of_r1() -> tuple[str, str]:
        r = await s.client.post(FEEDS, headers=s.headers[R1])
        assert r.status_code == 201, r.text
        return str(r.json()["id"]), str(r.json()["url"])

    async def revoke_feed() -> tuple[str, Any]:
        feed_id, _ = await feed_of_r1()
        return f"{FEEDS}/{feed_id}/revoke", None

    async def feed_file() -> tuple[str, Any]:
        _, url = await feed_of_r1()
        return "/" + url.split("://", 1)[1].split("/", 1)[1], None

    async def series_body() -> tuple[str, Any]:
        body = s.booking_body()
        del body["mode"]
        return SERIES, body | {"weeks": 2}

    async def series_of_r1() -> str:
        _, body = await series_body()
        r = await s.client.post(SERIES, json=body, headers=s.headers[R1])
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def show_series() -> tuple[str, Any]:
        return f"{SERIES}/{await series_of_r1()}", None

    async def cancel_series() -> tuple[str, Any]:
        return f"{SERIES}/{await series_of_r1()}/cancel", {"reason": "矩阵"}

    TRAINING = "/api/v1/training-requests"

    def training_of_r1(action: str, body: Any = None) -> Make:
        """R1's request for training on a new instrument of 之江理工."""

        async def make() -> tuple[str, Any]:
            world = await make_instrument(s.backend)
            r = await s.client.post(
                TRAINING, json={"instrument_id": str(world.instrument_id)}, headers=s.headers[R1]
            )
            assert r.status_code == 201, r.text
            return f"{TRAINING}/{r.json()['id']}/{action}", body

        return make

    async def new_training_request() -> tuple[str, Any]:
        world = await make_instrument(s.backend)
        return TRAINING, {"instrument_id": str(world.instrument_id)}

    session_body = {
        "start": iso(utcnow() + timedelta(days=2)),
        "end": iso(utcnow() + timedelta(days=2, hours=2)),
    }

    staff = [P, UA]
    sees_own = only(200, [R1, FA, P, UA, PA], 404)
    staff_only = only(200, staff, 403)
    other_units_instrument = {**expect(403), P: 404, UA: 404}  # staff elsewhere: not found
    platform_only = only(200, [PA], 403)
    bureaus, program = [SB, FB], s.program
    region_reads = only(200, [SB, FB, PA], 404)

    def region_acts(status: int) -> dict[str, int]:
        return {**only(status, bureaus, 404), PA: 403}  # the platform admin sees but does not act

    grant_body = {"enterprise_id": str(s.grantee), "amount_fen": 100}

    async def a_reconciliation() -> tuple[str, Any]:
        from datetime import date

        from vouchers.models import PaymentReconciliation

        reconciliation = PaymentReconciliation(
            day=date(2099, 1, 5),
            mchid="1900000109",
            sub_mchid=f"19{uuid.uuid4().int % 10**8:08d}",
            bill_lines=0,
            bill_total_fen=0,
            ledger_total_fen=0,
            differences={"lines": []},
        )
        async with s.backend.runtime.session_maker() as session, session.begin():
            session.add(reconciliation)
        return f"/api/v1/payment-reconciliations/{reconciliation.id}", None

    clearing_period = "&".join(f"{k}={v}" for k, v in s.period().items())
    public = expect(200, anonymous=200)
    unchanged = s.status_of

    return [
        # --- the shell ------------------------------------------------------------------------
        Case("GET /health", fixed("/health"), public),
        Case("GET /ready", fixed("/ready"), public),
        # Prometheus: its own bearer token when YIXIANG_METRICS_TOKEN is set (tests/test_admission)
        Case("GET /metrics", fixed("/metrics"), public),
        Case("POST /api/v1/auth/dev-login", fixed("/api/v1/auth/dev-login", {"username": R1}), public),
        Case(
            "POST /api/v1/auth/login",
            fixed("/api/v1/auth/login", {"username": R1, "password": "not-the-password"}),
            expect(401),
        ),
        Case(
            "POST /api/v1/auth/refresh",
            fixed("/api/v1/auth/refresh", {"refresh_token": "forged.token.value"}),
            expect(401),
        ),
        Case("POST /api/v1/auth/logout", fixed("/api/v1/auth/logout"), expect(204), tag="fresh-token"),
        Case("GET /api/v1/me", fixed("/api/v1/me"), expect(200)),
        # own firm / own unit / other region's bureau
        Case(
            "GET /api/v1/organizations/{org_id:uuid}",
            fixed(f"/api/v1/organizations/{QINGHE}"),
            only(200, [R1, FA, PA], 404),
        ),
        Case(
            "GET /api/v1/organizations/{org_id:uuid}",
            fixed(f"/api/v1/organizations/{ZJLG}"),
            only(200, [P, UA, PA], 404),
        ),
        Case(
            "GET /api/v1/organizations/{org_id:uuid}",
            fixed(f"/api/v1/organizations/{HZ_SCI}"),
            only(200, [SB, PA], 404),
        ),
        Case(
            "GET /api/v1/organizations/{org_id:uuid}/members",
            fixed(f"/api/v1/organizations/{QINGHE}/members"),
            {**only(200, [FA, PA], 404), R1: 403},
        ),
        Case(
            "GET /api/v1/organizations/{org_id:uuid}/members",
            fixed(f"/api/v1/organizations/{ZJLG}/members"),
            {**only(200, [UA, PA], 404), P: 403},
        ),
        Case(
            "POST /api/v1/organizations/{org_id:uuid}/members",
            add_member,
            {**only(201, [FA, PA], 404), R1: 403},
            fresh=True,
        ),
        Case(
            "DELETE /api/v1/organizations/{org_id:uuid}/members/{user_id:uuid}",
            remove_member,
            {**only(204, [FA, PA], 404), R1: 403},
            fresh=True,
        ),
        # --- bookings --------------------------------------------------------------------------
        Case("GET /api/v1/bookings", fixed(B), expect(200)),
        Case("GET /api/v1/bookings", fixed(f"{B}?unit={ZJLG}"), only(200, staff, 403)),
        Case("GET /api/v1/bookings", fixed(f"{B}?unit={HZCL}"), expect(403)),
        Case(
            "POST /api/v1/bookings",
            new_booking,
            only(201, [R1, R2, FA, RN], 403),  # provider, bureaus, platform book for no firm
            fresh=True,
        ),
        Case(
            "POST /api/v1/quotes",
            new_booking_as_quote,
            only(200, [R1, R2, FA, RN], 403),  # a price for a firm: those who book for none get none
        ),
        Case("GET /api/v1/bookings/{booking_id:uuid}", fixed(f"{B}/{own}"), sees_own),
        Case(
            "GET /api/v1/bookings/{booking_id:uuid}/sensed-use",
            fixed(f"{B}/{own}/sensed-use"),
            {**only(200, staff, 404), R1: 403, FA: 403, PA: 403},
        ),
        Case("GET /api/v1/bookings/by-number/{number:str}", by_number(own), sees_own),
        Case(
            "GET /api/v1/bookings/by-number/{number:str}", by_number(others), only(200, [R2, P, UA, PA], 404)
        ),
        Case(
            "GET /api/v1/bookings/{booking_id:uuid}",
            fixed(f"{B}/{others}"),
            only(200, [R2, P, UA, PA], 404),
        ),
        Case(
            "GET /api/v1/bookings/{booking_id:uuid}",
            fixed(f"{B}/{elsewhere}"),
            only(200, [R1, FA, PA], 404),  # another unit's staff don't see it
        ),
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/approve",
            transition_on(s.requested, "approve", {"reason": "可以"}),
            {**only(200, staff, 404), R1: 403, FA: 403, PA: 403},
            fresh=True,
            check_unchanged=unchanged,
        ),
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/reject",
            transition_on(s.requested, "reject", {"reason": "设备检修"}),
            {**only(200, staff, 404), R1: 403, FA: 403, PA: 403},
            fresh=True,
            check_unchanged=unchanged,
        ),
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/cancel",
            transition_on(confirmed_r1, "cancel", {"reason": "改期"}),
            {**only(200, [R1, FA, P, UA], 404), PA: 403},
            fresh=True,
            check_unchanged=unchanged,
        ),
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/check-in",
            transition_on(due_r1, "check-in"),
            {**only(200, staff, 404), R1: 403, FA: 403, PA: 403},
            fresh=True,
            check_unchanged=unchanged,
        ),
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/complete",
            complete_body,
            {**only(200, staff, 404), R1: 403, FA: 403, PA: 403},
            fresh=True,
            check_unchanged=unchanged,
        ),
        Case(
            # Staff pass the guard and are told it is too early (the booking starts tomorrow).
            "POST /api/v1/bookings/{booking_id:uuid}/no-show",
            transition_on(confirmed_r1, "no-show"),
            {**only(409, staff, 404), R1: 403, FA: 403, PA: 403},
            check_unchanged=unchanged,
        ),
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/cancel",
            transition_on(lambda: s.booking(R1, world=s.other_unit), "cancel", {"reason": "改期"}),
            {**only(200, [R1, FA], 404), PA: 403},  # 之江理工's staff don't see another unit's
            fresh=True,
            check_unchanged=unchanged,
        ),
        # --- availability, calendars, closures, qualifications ------------------------------------
        Case(
            "GET /api/v1/instruments/{instrument_id:uuid}/availability",
            fixed(f"/api/v1/instruments/{w}/availability"),
            public,
        ),
        Case(
            "GET /api/v1/instruments/{instrument_id:uuid}/availability",
            fixed(f"/api/v1/instruments/{s.draft.instrument_id}/availability"),
            only(200, staff, 404, anonymous=404),  # unpublished: only its own unit sees it
        ),
        Case(
            "GET /api/v1/instruments/{instrument_id:uuid}/calendar",
            fixed(f"/api/v1/instruments/{w}/calendar"),
            public,
        ),
        Case(
            "GET /api/v1/provider/instruments/{instrument_id:uuid}/calendar",
            fixed(f"/api/v1/provider/instruments/{s.draft.instrument_id}/calendar"),
            only(200, staff, 404),
        ),
        Case(
            "PUT /api/v1/provider/instruments/{instrument_id:uuid}/calendar",
            fixed(f"/api/v1/provider/instruments/{w}/calendar", ALWAYS_OPEN),
            only(200, staff, 403),
        ),
        Case(
            "PUT /api/v1/provider/instruments/{instrument_id:uuid}/calendar",
            fixed(f"/api/v1/provider/instruments/{s.other_unit.instrument_id}/calendar", ALWAYS_OPEN),
            expect(403),  # another unit's instrument
        ),
        Case(
            "GET /api/v1/provider/instruments/{instrument_id:uuid}/closures",
            fixed(f"/api/v1/provider/instruments/{s.draft.instrument_id}/closures"),
            only(200, staff, 404),
        ),
        Case(
            "POST /api/v1/provider/instruments/{instrument_id:uuid}/closures",
            add_closure,
            only(201, staff, 403),
            fresh=True,
        ),
        Case(
            "DELETE /api/v1/provider/instruments/{instrument_id:uuid}/closures/{closure_id:uuid}",
            remove_closure,
            only(204, staff, 403),
            fresh=True,
        ),
        Case("POST /api/v1/provider/qualifications", grant, only(201, staff, 403), fresh=True),
        Case(
            "GET /api/v1/provider/qualifications",
            fixed(f"/api/v1/provider/qualifications?unit={ZJLG}"),
            only(200, staff, 403),
        ),
        Case(
            "POST /api/v1/provider/qualifications/{qualification_id:uuid}/revoke",
            revoke,
            only(200, staff, 404),
            fresh=True,
        ),
        Case("GET /api/v1/qualifications", fixed("/api/v1/qualifications"), expect(200)),
        # --- waiting list, calendar feeds, weekly series ------------------------------------------
        Case(f"POST {WL}", taken_range, only(201, [R1, R2, FA, RN], 403), fresh=True),
        Case(f"GET {WL}", fixed(WL), expect(200)),  # one's own entries
        Case(f"POST {WL}/{{entry_id:uuid}}/accept", offer_to_r1("accept"), only(200, [R1], 404), fresh=True),
        Case(
            f"POST {WL}/{{entry_id:uuid}}/decline", offer_to_r1("decline"), only(200, [R1], 404), fresh=True
        ),
        Case(f"POST {FEEDS}", fixed(FEEDS), expect(201)),  # one's own bookings (maybe none)
        Case(
            f"POST {FEEDS}",
            fixed(FEEDS, {"instrument_id": str(w)}),
            only(201, staff, 403),  # an instrument's schedule: its unit's staff
        ),
        Case(f"GET {FEEDS}", fixed(FEEDS), expect(200)),
        Case(f"POST {FEEDS}/{{feed_id:uuid}}/revoke", revoke_feed, only(200, [R1], 404), fresh=True),
        # the secret address is the key: whoever holds it reads the feed, signed in or not
        Case("GET /api/v1/ical/{token:str}", feed_file, expect(200, anonymous=200)),
        Case("GET /api/v1/ical/{token:str}", fixed("/api/v1/ical/forged.ics"), expect(404, anonymous=404)),
        Case(f"POST {SERIES}", series_body, only(201, [R1, R2, FA, RN], 403), fresh=True),
        Case(f"GET {SERIES}/{{series_id:uuid}}", show_series, only(200, [R1, FA], 404)),
        Case(f"POST {SERIES}/{{series_id:uuid}}/cancel", cancel_series, only(200, [R1, FA], 404), fresh=True),
        Case("GET /api/v1/booking-standing", fixed("/api/v1/booking-standing"), expect(200)),  # one's own
        # personal data (PIPL): only one's own (no user in the path); erasing for real would end
        # the demo accounts: the unconfirmed request reaches the rule (400), and
        # tests/privacy erases a user of its own
        Case("GET /api/v1/me/personal-data", fixed("/api/v1/me/personal-data"), expect(200)),
        Case(
            "POST /api/v1/me/personal-data/erasure",
            fixed("/api/v1/me/personal-data/erasure", {"confirm": False}),
            expect(400),
        ),
        Case("GET /api/v1/me/notification-consent", fixed("/api/v1/me/notification-consent"), expect(200)),
        Case(
            "POST /api/v1/me/notification-consent",
            fixed("/api/v1/me/notification-consent", {"given": True}),
            expect(200),
        ),
        Case(f"POST {TRAINING}", new_training_request, expect(201), fresh=True),  # one's own request
        Case(f"GET {TRAINING}", fixed(TRAINING), expect(200)),  # one's own
        Case(f"GET {TRAINING}", fixed(f"{TRAINING}?unit={ZJLG}"), only(200, staff, 403)),
        Case(
            f"POST {TRAINING}/{{request_id:uuid}}/schedule",
            training_of_r1("schedule", session_body | {"place": "105 室"}),
            {**only(200, staff, 404), R1: 403},  # the researcher sees it, the unit schedules
            fresh=True,
        ),
        Case(
            f"POST {TRAINING}/{{request_id:uuid}}/result",
            training_of_r1("result", {"passed": True, "note": "矩阵"}),
            {**only(200, staff, 404), R1: 403},
            fresh=True,
        ),
        Case(
            f"POST {TRAINING}/{{request_id:uuid}}/cancel",
            training_of_r1("cancel"),
            only(200, [R1], 404),
            fresh=True,
        ),
        # --- results and ratings -------------------------------------------------------------------
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/results",
            results_of_completed,
            only(201, staff, 404) | {R1: 403, FA: 403},  # the booking's firm: told who uploads
            fresh=True,
            upload=True,
        ),
        Case(
            "GET /api/v1/bookings/{booking_id:uuid}/results",
            fixed(f"{B}/{s.delivered}/results"),
            only(200, [R1, FA, P, UA], 404),
        ),
        Case(
            # The signed link is the authority (it names the user it was made for); no token needed.
            "GET /api/v1/results/{file_id:uuid}/download",
            download_link,
            public,
        ),
        Case(
            "GET /api/v1/results/{file_id:uuid}/download",
            fixed(f"/api/v1/results/{s.file_id}/download?uid={demo_id(R2)}&exp=9999999999&sig=00"),
            expect(403, anonymous=403),
        ),
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/rating",
            rating_of_delivered,
            only(201, [R1, FA], 404),
            fresh=True,
        ),
        Case(
            "POST /api/v1/ratings/{rating_id:uuid}/reply",
            reply_to_new_rating,
            only(201, staff, 403),
            fresh=True,
        ),
        Case(
            "POST /api/v1/ratings/{rating_id:uuid}/hide",
            hide_new_rating,
            only(200, [PA], 403),
            fresh=True,
        ),
        Case(
            "GET /api/v1/instruments/{instrument_id:uuid}/ratings",
            fixed(f"/api/v1/instruments/{w}/ratings"),
            public,
        ),
        # --- catalogue and search -----------------------------------------------------------------
        Case("GET /api/v1/instrument-categories", fixed("/api/v1/instrument-categories"), public),
        Case("GET /api/v1/instruments/search", fixed("/api/v1/instruments/search?q=电镜"), public),
        Case("GET /api/v1/instruments/{instrument_id:uuid}", fixed(f"/api/v1/instruments/{w}"), public),
        Case(
            "GET /api/v1/instruments/{instrument_id:uuid}",
            fixed(f"/api/v1/instruments/{s.draft.instrument_id}"),
            only(200, staff, 404, anonymous=404),
        ),
        # --- the provider catalogue: staff of the instrument's unit; publication by its unit admin
        Case("GET /api/v1/provider/instruments", fixed(PROVIDER), staff_only),
        Case("GET /api/v1/provider/instruments", fixed(f"{PROVIDER}?unit={HZCL}"), expect(403)),
        Case("GET /api/v1/provider/instruments/export", fixed(f"{PROVIDER}/export"), staff_only),
        Case(
            "GET /api/v1/provider/instruments/export",
            fixed(f"{PROVIDER}/export?unit={HZCL}"),
            expect(403),
        ),
        Case(
            "GET /api/v1/provider/instruments/{instrument_id:uuid}",
            fixed(f"{PROVIDER}/{s.draft.instrument_id}"),
            staff_only,
        ),
        Case(
            "GET /api/v1/provider/instruments/{instrument_id:uuid}",
            fixed(f"{PROVIDER}/{s.other_unit.instrument_id}"),
            other_units_instrument,
        ),
        Case("POST /api/v1/provider/instruments", new_instrument, only(201, staff, 403), fresh=True),
        Case(
            "POST /api/v1/provider/instruments",
            fixed(PROVIDER, instrument_body(unit_id=str(HZCL))),
            expect(403),  # staff list instruments for their own unit only
        ),
        Case("POST /api/v1/provider/instruments/import", import_file, staff_only, fresh=True, tag="file"),
        Case(
            "POST /api/v1/provider/instruments/import",
            import_file_for(HZCL),
            expect(403),
            tag="file",
        ),
        Case(
            "PUT /api/v1/provider/instruments/{instrument_id:uuid}",
            fixed(f"{PROVIDER}/{s.editable}", instrument_body()),
            staff_only,
        ),
        Case(
            "PUT /api/v1/provider/instruments/{instrument_id:uuid}",
            fixed(f"{PROVIDER}/{s.other_unit.instrument_id}", instrument_body()),
            other_units_instrument,
        ),
        *[
            Case(
                f"POST /api/v1/provider/instruments/{{instrument_id:uuid}}/{action}",
                publication(source, action),
                only(200, who, 403),
                fresh=True,
                check_unchanged=s.publication_of,
            )
            for action, source, who in (
                ("submit", "draft", staff),
                ("approve", "pending", [UA]),  # staff submit, the unit admin publishes
                ("reject", "pending", [UA]),
                ("withdraw", "published", staff),
            )
        ],
        *[
            Case(
                f"POST /api/v1/provider/instruments/{{instrument_id:uuid}}/{action}",
                fixed(f"{PROVIDER}/{s.other_unit.instrument_id}/{action}"),
                other_units_instrument,
            )
            for action in ("approve", "reject", "submit", "withdraw")
        ],
        # --- platform administration ------------------------------------------------------------
        Case("GET /api/v1/admin/working-days", fixed(f"{DAYS}?year={DAY[:4]}"), platform_only),
        Case(
            "PUT /api/v1/admin/working-days/{day:date}",
            fixed(f"{DAYS}/{DAY}", {"is_working_day": False, "name": "矩阵测试"}),
            platform_only,
        ),
        Case(
            "DELETE /api/v1/admin/working-days/{day:date}",
            day_override,
            only(204, [PA], 403),  # removes what the row above set: nothing is left behind
            fresh=True,
        ),
        Case("POST /api/v1/admin/search/reindex", fixed("/api/v1/admin/search/reindex"), platform_only),
        Case("GET /api/v1/ledger/check", fixed("/api/v1/ledger/check"), platform_only),
        # the audit trail spans every unit, bureau and firm: the platform operator only
        Case("GET /api/v1/audit", fixed("/api/v1/audit?entity=instrument"), platform_only),
        # --- voucher applications: the firm's admin applies, the region's officers decide, both
        # (and the firm's researchers, and the platform admin) read; everyone else: not found
        Case(f"GET {APPLICATIONS}/open-programs", fixed(f"{APPLICATIONS}/open-programs"), expect(200)),
        Case(f"POST {APPLICATIONS}", new_application, only(201, [FA], 403), fresh=True),
        Case(f"GET {APPLICATIONS}", fixed(APPLICATIONS), expect(200)),  # filtered by who asks
        Case(
            f"GET {APPLICATIONS}/{{application_id:uuid}}",
            on_application(),
            {**only(200, [R1, FA, SB, FB, PA], 404)},
        ),
        Case(
            f"PUT {APPLICATIONS}/{{application_id:uuid}}",
            on_application(returned=True, body="resubmit"),
            {**only(200, [FA], 404), R1: 403, SB: 403, FB: 403, PA: 403},
            fresh=True,
        ),
        Case(
            f"POST {APPLICATIONS}/{{application_id:uuid}}/withdraw",
            on_application("withdraw"),
            {**only(200, [FA], 404), R1: 403, SB: 403, FB: 403, PA: 403},
            fresh=True,
        ),
        *[
            Case(
                f"POST {APPLICATIONS}/{{application_id:uuid}}/{action}",
                on_application(action, body={"reason": "矩阵"}),
                {**only(200, bureaus, 404), R1: 403, FA: 403, PA: 403},
                fresh=True,
            )
            for action in ("approve", "return", "reject")
        ],
        Case(
            f"POST {APPLICATIONS}/{{application_id:uuid}}/attachments",
            on_application("attachments", body=b"%PDF-1.7\n0"),
            {**only(201, [FA], 404), R1: 403, SB: 403, FB: 403, PA: 403},
            fresh=True,
            tag="file",
        ),
        Case(
            f"GET {APPLICATIONS}/{{application_id:uuid}}/attachments/{{attachment_id:uuid}}",
            an_attachment,
            only(200, [R1, FA, SB, FB, PA], 404),
        ),
        # --- voucher programmes: the bureaus (science and finance) of the issuing region act; the
        # platform admin reads; everyone else is told the programme does not exist
        Case("GET /api/v1/voucher-programs", fixed(PROGRAMS), expect(200)),  # filtered by region
        Case("POST /api/v1/voucher-programs", new_program, only(201, [*bureaus, NB], 403), fresh=True),
        Case("GET /api/v1/voucher-programs/{program_id:uuid}", fixed(f"{PROGRAMS}/{program}"), region_reads),
        Case(
            "GET /api/v1/voucher-programs/{program_id:uuid}",
            fixed(f"{PROGRAMS}/{s.nb_program}"),
            only(200, [PA, NB], 404),  # 宁波's: not 杭州's bureaus' business
        ),
        Case(
            "GET /api/v1/voucher-programs/{program_id:uuid}/grants",
            fixed(f"{PROGRAMS}/{program}/grants"),
            region_reads,
        ),
        Case(
            "POST /api/v1/voucher-programs/{program_id:uuid}/grants",
            fixed(f"{PROGRAMS}/{program}/grants", grant_body),
            region_acts(201),
            check_unchanged=s.program_state,
        ),
        Case(
            "POST /api/v1/voucher-programs/{program_id:uuid}/grants",
            fixed(f"{PROGRAMS}/{s.nb_program}/grants", grant_body),
            {**expect(404), PA: 403, NB: 400},  # 宁波's officer: the 杭州 firm is not eligible
            check_unchanged=s.program_state,
        ),
        Case(
            "POST /api/v1/voucher-programs/{program_id:uuid}/grants/import",
            fixed(
                f"{PROGRAMS}/{program}/grants/import", f"uscc,amount_yuan,note\n{s.grantee_uscc},1.00,矩阵\n"
            ),
            region_acts(201),
            check_unchanged=s.program_state,
            tag="csv",
        ),
        Case(
            "POST /api/v1/voucher-programs/{program_id:uuid}/adjustments",
            fixed(
                f"{PROGRAMS}/{program}/adjustments",
                {"grant_id": s.grant, "amount_fen": 100, "reason": "矩阵调整"},
            ),
            region_acts(201),
            check_unchanged=s.program_state,
        ),
        # --- a booking's voucher side: the firm, the provider and the programme's region see it
        Case(
            "GET /api/v1/bookings/{booking_id:uuid}/statement",
            fixed(f"{B}/{s.captured}/statement"),
            only(200, [R1, FA, P, UA, SB, FB, PA], 404),
        ),
        Case(
            "GET /api/v1/bookings/{booking_id:uuid}/statement",
            fixed(f"{B}/{elsewhere}/statement"),
            only(200, [R1, FA, SB, FB, PA], 404),  # another unit's booking
        ),
        Case(
            "GET /api/v1/bookings/{booking_id:uuid}/statement",
            fixed(f"{B}/{others}/statement"),
            only(200, [R2, P, UA, PA], 404),  # 蓝湾 holds no voucher: no bureau's business
        ),
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/payment-received",
            transition_on(s.completed, "payment-received", {"reference": "对公-矩阵"}),
            {**only(200, staff, 404), R1: 403, FA: 403, SB: 403, FB: 403, PA: 403},
            fresh=True,
            check_unchanged=s.statement_state,
        ),
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/voucher-refund",
            transition_on(s.completed, "voucher-refund", {"amount_fen": 100, "reason": "部分检测未完成"}),
            {**region_acts(200), R1: 403, FA: 403, P: 403, UA: 403},
            fresh=True,
            check_unchanged=s.statement_state,
        ),
        # --- invoices: the booking's researcher or firm admin asks, the provider's staff answer
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/invoice",
            invoice_of(s.paid, "", INVOICE),
            {**only(201, [R1, FA], 403), R2: 404, RN: 404, NB: 404},
            fresh=True,
            check_unchanged=s.invoice_state,
        ),
        Case(
            "GET /api/v1/bookings/{booking_id:uuid}/invoice",
            fixed(f"{B}/{s.invoiced}/invoice"),
            {**expect(200), R2: 404, RN: 404, NB: 404},  # whoever sees the booking's statement
        ),
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/invoice/issue",
            invoice_of(s.invoice_requested, "/issue"),
            {**only(200, staff, 403), R2: 404, RN: 404, NB: 404},
            fresh=True,
            tag="invoice",
            check_unchanged=s.invoice_state,
        ),
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/invoice/reject",
            invoice_of(s.invoice_requested, "/reject", {"reason": "抬头与付款单位不符"}),
            {**only(200, staff, 403), R2: 404, RN: 404, NB: 404},
            fresh=True,
            check_unchanged=s.invoice_state,
        ),
        Case("GET /api/v1/invoices", fixed("/api/v1/invoices"), expect(200)),  # each sees their own
        Case(
            "GET /api/v1/bookings/{booking_id:uuid}/invoice/file",
            fixed(f"{B}/{s.invoiced}/invoice/file"),
            only(200, [R1, FA, P, UA, PA], 404),  # the firm and the provider (bureaus: not theirs)
        ),
        # --- paying what a booking owes in WeChat: the firm pays; whoever sees the statement reads
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/payment-orders",
            transition_on(s.completed, "payment-orders", {"channel": "native"}),
            {**only(201, [R1, FA], 404), P: 403, UA: 403, SB: 403, FB: 403, PA: 403},
            fresh=True,
        ),
        Case(
            "GET /api/v1/bookings/{booking_id:uuid}/payment-orders",
            fixed(f"{B}/{s.captured}/payment-orders"),
            only(200, [R1, FA, P, UA, SB, FB, PA], 404),
        ),
        Case(
            "POST /api/v1/payment-orders/{out_trade_no:str}/check",
            fixed(f"/api/v1/payment-orders/{s.payment_order}/check"),
            only(200, [R1, FA, P, UA, SB, FB, PA], 404),
        ),
        # WeChat Pay's own push: no sign-in, and nothing without WeChat Pay's signature
        Case(
            "POST /api/v1/wechatpay/notifications",
            fixed(
                "/api/v1/wechatpay/notifications", {"id": "EV-forged", "event_type": "TRANSACTION.SUCCESS"}
            ),
            expect(401, anonymous=401),
            tag="wechatpay",
        ),
        # --- fee corrections, WeChat Pay refunds and reconciliations (issue 20)
        Case(
            "POST /api/v1/bookings/{booking_id:uuid}/fee-correction",
            transition_on(s.completed, "fee-correction", {"fee_fen": 1, "reason": "矩阵费用更正"}),
            {**only(200, staff, 404), R1: 403, FA: 403, SB: 403, FB: 403, PA: 403},
            fresh=True,
            check_unchanged=s.statement_state,
        ),
        Case("GET /api/v1/payment-refunds", fixed("/api/v1/payment-refunds"), expect(200)),  # filtered
        Case("GET /api/v1/payment-reconciliations", fixed("/api/v1/payment-reconciliations"), expect(200)),
        Case(
            "GET /api/v1/payment-reconciliations/{reconciliation_id:uuid}",
            a_reconciliation,
            only(200, [FB, PA], 404),  # a unit sees its own sub-merchant's only (none: pay is off here)
        ),
        Case(
            "POST /api/v1/payment-reconciliations",
            fixed("/api/v1/payment-reconciliations", {"day": "2099-01-05", "sub_mchid": "1900000201"}),
            only(200, [FB, PA], 403),  # the fake WeChat Pay's (empty) bill of that day
        ),
        Case("GET /api/v1/me/vouchers", fixed("/api/v1/me/vouchers"), expect(200)),
        Case(
            "GET /api/v1/me/vouchers",
            fixed(f"/api/v1/me/vouchers?enterprise_id={QINGHE}"),
            only(200, [R1, FA], 403),  # another firm's vouchers, asked for by id: refused
        ),
        # --- settlement: the bureaus of the batch's region draw and move it; the platform reads
        Case(
            "POST /api/v1/settlements",
            new_settlement,
            {**only(201, bureaus, 403), NB: 409},  # 宁波's officer: nothing new to draw in 宁波
            fresh=True,
        ),
        Case("GET /api/v1/settlements", fixed(SETTLEMENTS), only(200, [*bureaus, PA, NB], 403)),
        Case("GET /api/v1/settlements/{batch_id:uuid}", fixed(f"{SETTLEMENTS}/{s.batch}"), region_reads),
        Case(
            "GET /api/v1/settlements/{batch_id:uuid}",
            fixed(f"{SETTLEMENTS}/{s.nb_batch}"),
            only(200, [PA, NB], 404),
        ),
        Case(
            "GET /api/v1/settlements/{batch_id:uuid}/reconciliation",
            fixed(f"{SETTLEMENTS}/{s.batch}/reconciliation"),
            region_reads,
        ),
        Case(
            "GET /api/v1/settlements/{batch_id:uuid}/export",
            fixed(f"{SETTLEMENTS}/{s.batch}/export"),
            region_reads,
        ),
        *[
            Case(
                f"POST /api/v1/settlements/{{batch_id:uuid}}/{action}",
                batch_in(source, action, body),
                region_acts(200),
                fresh=True,
                check_unchanged=s.batch_state,
            )
            for action, source, body in (
                ("submit", "draft", None),
                ("discard", "draft", None),
                ("approve", "submitted", None),  # submitted by the clerk: either bureau approves
                ("mark-paid", "approved", {"bank_reference": "ICBC-MATRIX"}),
                ("reconcile", "paid", None),
            )
        ],
        Case(
            "POST /api/v1/settlements/{batch_id:uuid}/submit",
            fixed(f"{SETTLEMENTS}/{s.nb_batch}/submit"),
            {**expect(404), PA: 403, NB: 200},  # 宁波's officer submits 宁波's batch
            check_unchanged=s.batch_state,
        ),
        # --- clearing statements (通用通兑): a region's bureaus read theirs; the platform names one
        Case(
            "GET /api/v1/clearing-statements",
            fixed(f"{CLEARING}?{clearing_period}"),
            {**only(200, [*bureaus, NB], 403), PA: 400},  # the platform admin must name the region
        ),
        Case(
            "GET /api/v1/clearing-statements",
            fixed(f"{CLEARING}?{clearing_period}&region=330200"),  # 宁波's
            only(200, [PA, NB], 403),
        ),
        Case(
            "GET /api/v1/clearing-statements/export",
            fixed(f"{CLEARING}/export?{clearing_period}&region=330100"),
            only(200, [*bureaus, PA], 403),
        ),
        # --- WeChat: the push endpoint trusts signatures, not tokens; sign-in trusts WeChat's code --
        Case("GET /wechat/official-account", fixed("/wechat/official-account?echostr=x"), WECHAT),
        Case("POST /wechat/official-account", fixed("/wechat/official-account"), WECHAT, tag="xml"),
        Case(
            "POST /api/v1/auth/wechat/mini-program",
            fixed("/api/v1/auth/wechat/mini-program", {"code": "forged"}),
            expect(503, anonymous=503),  # nobody answers for WeChat on loopback: a clean 503
        ),
        Case(
            "GET /api/v1/auth/wechat/oauth/callback",
            fixed("/api/v1/auth/wechat/oauth/callback?code=forged"),
            expect(503, anonymous=503),
        ),
        Case(
            "POST /api/v1/auth/wechat/phone-number",
            fixed("/api/v1/auth/wechat/phone-number", {"code": "forged"}),
            expect(503),
        ),
        Case("POST /api/v1/auth/wechat/bind-code", fixed("/api/v1/auth/wechat/bind-code"), expect(200)),
        # the local outbox: on the embedded default with the dev sign-in (anyone may be the operator)
        Case("GET /dev/outbox", fixed("/dev/outbox"), public),
        # --- oversight: sensors, readings, sessions, live status (oversight_cases) ---------------
        *oversight_cases(s, public),
        *yearly_report_cases(s, public),
        # --- complaints and the yearly evaluation (tests/attack/evaluation_matrix.py) -------------
        *complaint_cases(s),
        *evaluation_cases(s, public),
        # --- the published API description ------------------------------------------------------
        *[
            Case(f"GET {path}", fixed(path), public)
            for path in (
                "/schema",
                "/schema/openapi.json",
                "/schema/openapi.yaml",
                "/schema/openapi.yml",
                "/schema/redoc",
            )
        ],
        Case(
            "GET /schema/assets/{file_path:path}",
            fixed("/schema/assets/redoc.standalone.js"),
            public,
        ),
        Case("GET /schema/{path:str}", fixed("/schema/no-such-page"), expect(404, anonymous=404)),
    ]


def complaint_cases(s: Scene) -> list[Case]:
    from tests.attack.evaluation_matrix import complaint_cases as rows

    return rows(s)


REWARDS, REWARD_BATCHES = "/api/v1/reward-programmes", "/api/v1/reward-batches"


async def reward_cases(s: Scene) -> list[Case]:
    """Sharing rewards: the region's finance bureau sets the terms and approves, pays and
    reconciles; either bureau of the region draws and submits; the platform reads; a unit reads
    its own lines and their evidence."""
    from tests.oversight.rewards_world import in_year, served

    years = iter(range(1990, 2015))  # a year each: a region's programme is unique per year

    async def programme() -> tuple[str, int]:
        year = next(years)
        await served(s.backend, s.world, ZJLG, QINGHE, 1_000_000, in_year(year))  # something to reward
        r = await s.client.post(REWARDS, json={"year": year}, headers=s.headers[FB])
        assert r.status_code == 201, r.text
        return str(r.json()["id"]), year

    async def batch(status: str) -> str:
        """A batch of a new programme drawn by the clerk and taken to ``status`` (submitted by the
        clerk: the finance bureau may approve it)."""
        programme_id, _ = await programme()
        r = await s.client.post(f"{REWARDS}/{programme_id}/batches", headers=s.clerk)
        assert r.status_code == 201, r.text
        batch_id = str(r.json()["id"])
        steps = [
            ("submit", s.clerk, None),
            ("approve", s.headers[FB], None),
            ("mark-paid", s.headers[FB], {"bank_reference": "ICBC-REWARD"}),
        ][: ["draft", "submitted", "approved", "paid"].index(status)]
        for action, headers, body in steps:
            r = await s.client.post(f"{REWARD_BATCHES}/{batch_id}/{action}", json=body, headers=headers)
            assert r.status_code == 200, r.text
        return batch_id

    async def batch_state(batch_id: str) -> Any:
        r = await s.client.get(f"{REWARD_BATCHES}/{batch_id}", headers=s.headers[PA])
        return r.json()["status"], r.json()["total_fen"]

    async def programme_state(programme_id: str) -> Any:
        r = await s.client.get(f"{REWARDS}/{programme_id}", headers=s.headers[PA])
        return r.json()

    async def new_programme() -> tuple[str, Any]:
        year = next(years)
        return REWARDS, {"year": year}

    async def editable_programme() -> tuple[str, Any]:
        return f"{REWARDS}/{(await programme())[0]}", {"rate_bp": 900}

    async def drawable_programme() -> tuple[str, Any]:
        return f"{REWARDS}/{(await programme())[0]}/batches", None

    def batch_in(status: str, action: str, body: Any) -> Make:
        async def make() -> tuple[str, Any]:
            return f"{REWARD_BATCHES}/{await batch(status)}/{action}", body

        return make

    shared_programme, _ = await programme()
    shared = await batch("draft")
    region_reads = only(200, [SB, FB, PA], 404)
    finance_acts = {**expect(404), SB: 403, PA: 403, FB: 200}
    bureau_acts = {**only(200, [SB, FB], 404), PA: 403}
    return [
        Case(f"GET {REWARDS}", fixed(REWARDS), only(200, [SB, FB, PA, NB], 403)),
        Case(f"POST {REWARDS}", new_programme, only(201, [FB], 403), fresh=True),
        Case(f"GET {REWARDS}/{{programme_id:uuid}}", fixed(f"{REWARDS}/{shared_programme}"), region_reads),
        Case(
            f"PUT {REWARDS}/{{programme_id:uuid}}",
            editable_programme,
            finance_acts,
            fresh=True,
            check_unchanged=programme_state,
        ),
        Case(
            f"POST {REWARDS}/{{programme_id:uuid}}/batches",
            drawable_programme,
            {**bureau_acts, SB: 201, FB: 201},
            fresh=True,
        ),
        Case(f"GET {REWARD_BATCHES}", fixed(REWARD_BATCHES), only(200, [SB, FB, PA, NB], 403)),
        Case(f"GET {REWARD_BATCHES}/{{batch_id:uuid}}", fixed(f"{REWARD_BATCHES}/{shared}"), region_reads),
        Case(
            f"GET {REWARD_BATCHES}/{{batch_id:uuid}}/reconciliation",
            fixed(f"{REWARD_BATCHES}/{shared}/reconciliation"),
            region_reads,
        ),
        Case(
            f"GET {REWARD_BATCHES}/{{batch_id:uuid}}/export",
            fixed(f"{REWARD_BATCHES}/{shared}/export"),
            region_reads,
        ),
        # the bookings behind a unit's line: the region's bureaus, the platform and the unit itself
        Case(
            f"GET {REWARD_BATCHES}/{{batch_id:uuid}}/lines/{{unit_id:uuid}}/bookings",
            fixed(f"{REWARD_BATCHES}/{shared}/lines/{ZJLG}/bookings"),
            only(200, [SB, FB, PA, P, UA], 404),
        ),
        *[
            Case(
                f"POST {REWARD_BATCHES}/{{batch_id:uuid}}/{action}",
                batch_in(source, action, body),
                expected,
                fresh=True,
                check_unchanged=batch_state,
            )
            for action, source, body, expected in (
                ("submit", "draft", None, bureau_acts),
                ("discard", "draft", None, bureau_acts),
                ("approve", "submitted", None, finance_acts),
                ("mark-paid", "approved", {"bank_reference": "ICBC-REWARD"}, finance_acts),
                ("reconcile", "paid", None, finance_acts),
            )
        ],
        Case("GET /api/v1/reward-lines", fixed("/api/v1/reward-lines"), expect(200)),
    ]


def evaluation_cases(s: Scene, public: dict[str, int]) -> list[Case]:
    from tests.attack.evaluation_matrix import evaluation_cases as rows

    return rows(s, public)


def oversight_cases(s: Scene, public: dict[str, int]) -> list[Case]:
    """The sensor registry and usage: a unit's staff manage its sensors; the unit, the bureaus of
    its region and the operator read usage; a sensor's own signature is the readings' authority."""
    ov = "/api/v1/oversight"
    w = s.world.instrument_id
    staff = [P, UA]
    overseers = only(200, [P, UA, SB, FB, PA], 403)

    async def sensor_on_new_instrument() -> str:
        instrument = await make_instrument(s.backend)
        body = {"sensor_id": f"S-m-{uuid.uuid4().hex[:10]}", "instrument_id": str(instrument.instrument_id)}
        r = await s.client.post(f"{ov}/sensors", json=body, headers=s.headers[P])
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def new_registration() -> tuple[str, Any]:
        instrument = await make_instrument(s.backend)
        return f"{ov}/sensors", {
            "sensor_id": f"S-m-{uuid.uuid4().hex[:10]}",
            "instrument_id": str(instrument.instrument_id),
        }

    async def rebinding() -> tuple[str, Any]:
        target = await make_instrument(s.backend)
        return f"{ov}/sensors/{await sensor_on_new_instrument()}/bind", {
            "instrument_id": str(target.instrument_id)
        }

    async def retiring() -> tuple[str, Any]:
        return f"{ov}/sensors/{await sensor_on_new_instrument()}/retire", {"reason": "矩阵"}

    async def annotating() -> tuple[str, Any]:
        now = utcnow()
        r = await s.client.post(
            f"{ov}/instruments/{w}/sessions",
            json={
                "start": iso(now - timedelta(hours=2)),
                "end": iso(now - timedelta(hours=1)),
                "reason": "矩阵",
            },
            headers=s.headers[P],
        )
        assert r.status_code == 201, r.text
        return f"{ov}/sessions/{r.json()['id']}/annotation", {"annotation": "maintenance", "note": "矩阵"}

    async def shown_sensor() -> tuple[str, Any]:
        return f"{ov}/sensors/{await sensor_on_new_instrument()}", None

    async def idle_case() -> str:
        """A new 之江理工 instrument with a sensor, listed long ago and never used: an open idle
        case (without a sensor it would be listed as lacking one, not as idle)."""
        instrument = await make_instrument(s.backend)
        body = {"sensor_id": f"S-m-{uuid.uuid4().hex[:10]}", "instrument_id": str(instrument.instrument_id)}
        assert (await s.client.post(f"{ov}/sensors", json=body, headers=s.headers[P])).status_code == 201
        async with s.backend.runtime.session_maker() as session:
            async with session.begin():
                found = await session.get(CatalogueInstrument, instrument.instrument_id)
                assert found is not None
                found.published_at = utcnow() - timedelta(days=100)
            [case] = await check_idle(session, instrument_ids=[instrument.instrument_id])
        return str(case.id)

    async def explaining() -> tuple[str, Any]:
        return f"{ov}/idle/{await idle_case()}/explanations", {"reason": "maintenance", "text": "矩阵"}

    async def deciding() -> tuple[str, Any]:
        path, body = await explaining()
        r = await s.client.post(path, json=body, headers=s.headers[P])
        assert r.status_code == 201, r.text
        return f"{ov}/idle-explanations/{r.json()['id']}/decision", {"accept": True}

    manual = {
        "start": iso(utcnow() - timedelta(hours=3)),
        "end": iso(utcnow() - timedelta(hours=2)),
        "reason": "矩阵",
    }
    thresholds = {"running_watts": 80, "min_session_minutes": 5, "offline_after_minutes": 15}
    unsigned = {"messages": [{"body": "{}", "signature": ""}]}
    return [
        Case("POST /api/v1/oversight/sensors", new_registration, only(201, staff, 404), fresh=True),
        Case("GET /api/v1/oversight/sensors", fixed(f"{ov}/sensors"), expect(200)),
        Case("GET /api/v1/oversight/sensors/{sensor_id:str}", shown_sensor, only(200, [P, UA, PA], 404)),
        Case(
            "POST /api/v1/oversight/sensors/{sensor_id:str}/bind",
            rebinding,
            only(200, staff, 404),
            fresh=True,
        ),
        Case(
            "POST /api/v1/oversight/sensors/{sensor_id:str}/retire",
            retiring,
            only(200, [P, UA, PA], 404),
            fresh=True,
        ),
        # no sign-in: each message carries its own sensor's signature (refused ones are counted)
        Case("POST /api/v1/oversight/readings", fixed(f"{ov}/readings", unsigned), public),
        Case("GET /api/v1/oversight/refusals", fixed(f"{ov}/refusals"), only(200, [PA], 403)),
        Case(
            "GET /api/v1/oversight/instruments/{instrument_id:uuid}/thresholds",
            fixed(f"{ov}/instruments/{w}/thresholds"),
            overseers,
        ),
        Case(
            "PUT /api/v1/oversight/instruments/{instrument_id:uuid}/thresholds",
            fixed(f"{ov}/instruments/{w}/thresholds", thresholds),
            only(200, staff, 404),
        ),
        Case(
            "GET /api/v1/oversight/instruments/{instrument_id:uuid}/sessions",
            fixed(f"{ov}/instruments/{w}/sessions"),
            overseers,
        ),
        Case(
            "POST /api/v1/oversight/instruments/{instrument_id:uuid}/sessions",
            fixed(f"{ov}/instruments/{w}/sessions", manual),
            only(201, staff, 404),
        ),
        Case(
            "POST /api/v1/oversight/sessions/{session_id:uuid}/annotation",
            annotating,
            only(200, staff, 404),
            fresh=True,
        ),
        Case(
            "GET /api/v1/oversight/instruments/{instrument_id:uuid}/daily-hours",
            fixed(f"{ov}/instruments/{w}/daily-hours"),
            overseers,
        ),
        Case(
            "GET /api/v1/oversight/units/{unit_id:uuid}/live-board",
            fixed(f"{ov}/units/{ZJLG}/live-board"),
            overseers,
        ),
        Case("GET /api/v1/oversight/idle", fixed(f"{ov}/idle"), expect(200)),
        # lists scoped by the caller: a unit's own, a bureau's region, empty for the others
        Case("GET /api/v1/oversight/idle/export", fixed(f"{ov}/idle/export"), expect(200)),
        Case("GET /api/v1/oversight/overdue-sensors", fixed(f"{ov}/overdue-sensors"), expect(200)),
        Case(
            "GET /api/v1/oversight/overdue-sensors/export",
            fixed(f"{ov}/overdue-sensors/export?format=xlsx"),
            expect(200),
        ),
        Case("GET /api/v1/oversight/overdue-service-info", fixed(f"{ov}/overdue-service-info"), expect(200)),
        Case(
            "GET /api/v1/oversight/overdue-service-info/export",
            fixed(f"{ov}/overdue-service-info/export"),
            expect(200),
        ),
        Case(
            "POST /api/v1/oversight/idle/{case_id:uuid}/explanations",
            explaining,
            only(201, staff, 404),
            fresh=True,
        ),
        # the region's bureau officers decide; the unit is told it may not (403), others never see it
        Case(
            "POST /api/v1/oversight/idle-explanations/{explanation_id:uuid}/decision",
            deciding,
            only(200, [SB, FB], 404) | {P: 403, UA: 403, PA: 403},
            fresh=True,
        ),
        Case(
            "GET /api/v1/instruments/{instrument_id:uuid}/live-status",
            fixed(f"/api/v1/instruments/{w}/live-status"),
            public,
        ),
        # indicators: 杭州's bureaus and the operator read the region, a unit's staff their own
        # instruments in it; 宁波's bureau, researchers and firms are refused
        Case(
            "GET /api/v1/indicators/instruments",
            fixed("/api/v1/indicators/instruments?region=330100&year=2025"),
            overseers,
        ),
        Case(
            "GET /api/v1/indicators/units",
            fixed("/api/v1/indicators/units?region=330100&year=2025"),
            overseers,
        ),
    ]


REPORT_YEARS = itertools.count(2000)  # each publication its own year, long past (never the demo's)


def yearly_report_cases(s: Scene, public: dict[str, int]) -> list[Case]:
    """The yearly report (统计年报): anyone reads a published one; the region's bureaus preview the
    draft; only the region's science bureau publishes (宁波's is told it may not, 403)."""
    published: list[int] = []

    async def a_published_year() -> int:
        if not published:
            year = next(REPORT_YEARS)
            r = await s.client.post(
                f"/api/v1/oversight/yearly-reports/330100/{year}/publish", headers=s.headers[SB]
            )
            assert r.status_code == 201, r.text
            published.append(year)
        return published[0]

    def public_path(suffix: str = "", base: str = "/api/v1/public/yearly-reports") -> Make:
        async def make() -> tuple[str, Any]:
            return f"{base}/330100/{await a_published_year()}{suffix}", None

        return make

    async def publishing() -> tuple[str, Any]:
        return f"/api/v1/oversight/yearly-reports/330100/{next(REPORT_YEARS)}/publish", None

    office = "/api/v1/oversight/yearly-reports/330100"
    return [
        Case("GET /api/v1/public/yearly-reports", fixed("/api/v1/public/yearly-reports"), public),
        Case("GET /api/v1/public/yearly-reports/{region:str}/{year:int}", public_path(), public),
        Case(
            "GET /api/v1/public/yearly-reports/{region:str}/{year:int}",
            fixed("/api/v1/public/yearly-reports/330100/2099"),
            expect(404, anonymous=404),
        ),
        Case("GET /api/v1/public/yearly-reports/{region:str}/{year:int}/pdf", public_path("/pdf"), public),
        Case(
            "GET /api/v1/public/yearly-reports/{region:str}/{year:int}/tables/{name:str}",
            public_path("/tables/monthly.csv"),
            public,
        ),
        Case("GET /reports/yearly", fixed("/reports/yearly"), public),
        Case("GET /reports/yearly/{region:str}/{year:int}", public_path(base="/reports/yearly"), public),
        Case(
            "GET /reports/yearly/{region:str}/{year:int}",
            fixed("/reports/yearly/330100/2099"),
            expect(404, anonymous=404),
        ),
        Case(
            "GET /api/v1/oversight/yearly-reports/{region:str}/{year:int}/draft",
            fixed(f"{office}/2024/draft"),
            only(200, [SB, FB], 403),
        ),
        Case(
            "POST /api/v1/oversight/yearly-reports/{region:str}/{year:int}/publish",
            publishing,
            only(201, [SB], 403),
            fresh=True,
        ),
    ]


WECHAT = expect(403, anonymous=403)  # no signature → refused, whoever holds a token


def object_id(path: str) -> str:
    """The first id in a path: the object a state-changing route acts on."""
    for part in path.split("?")[0].split("/"):
        try:
            return str(uuid.UUID(part))
        except ValueError:
            continue
    raise AssertionError(f"no object id in {path}")


def app_routes(app: Any) -> set[str]:
    found = set()
    for route in app.routes:
        for handler in route.route_handlers:
            for method in handler.http_methods:
                if method not in {"OPTIONS", "HEAD"}:
                    found.add(f"{method} {route.path}")
    return found


async def issue_invoice(client: Any, path: str, headers: dict[str, str]) -> Any:
    """The provider's answer to an invoice request: its number and PDF (multipart)."""
    files = {"file": ("发票.pdf", INVOICE_PDF, "application/pdf")}
    return await client.post(path, data={"invoice_number": INVOICE_NUMBER}, files=files, headers=headers)


async def call(s: Scene, case: Case, role: str, path: str, body: Any) -> Any:
    headers = dict(s.headers[role])
    if case.tag == "fresh-token" and role != ANON:
        # Signing out revokes every token of the user: the matrix goes on with a new one.
        response = await s.client.post(path, headers=headers)
        s.headers[role] = await s.login(role)
        return response
    method = case.route.split(" ", 1)[0]
    if case.upload:
        return await upload(s.client, headers, path.rsplit("/", 2)[1], [("x.png", PNG)])
    if case.tag == "invoice":
        return await issue_invoice(s.client, path, headers)
    if case.tag == "xml":
        headers["Content-Type"] = "text/xml"
        return await s.client.post(path, content=b"<xml></xml>", headers=headers)
    if case.tag == "file":  # a multipart upload of ``body`` (bytes)
        return await s.client.post(path, files={"file": ("push.csv", body)}, headers=headers)
    if case.tag == "csv":  # ``body`` (text) as the raw request body
        headers["Content-Type"] = "text/csv"
        return await s.client.post(path, content=body.encode(), headers=headers)
    return await s.client.request(method, path, json=body, headers=headers)


@pytest.mark.slow
async def test_every_route_answers_each_role_as_expected(backend, client, login):
    with wechat_pay_in(backend):
        await _every_route_answers_each_role_as_expected(backend, client, login)


async def _every_route_answers_each_role_as_expected(backend: Any, client: Any, login: Any) -> None:
    wechat_configured = bool(WeChatSettings.of(backend.settings).token)
    s = Scene(backend, client, login)
    await s.setup()
    from tests.attack.review_matrix import review_cases  # its rows import this module's helpers

    table = [*cases(s), *await reward_cases(s), *await review_cases(s)]
    # the console's pages and forms have their own table (cookies, CSRF): tests/console/test_page_matrix.py
    from tests.console.test_page_matrix import CONSOLE_ROUTES

    missing = app_routes(backend.app) - {c.route for c in table} - CONSOLE_ROUTES
    assert not missing, f"routes without a row in the authorisation matrix: {sorted(missing)}"

    wrong: list[str] = []
    for case in table:
        if case.route.startswith(("GET /wechat", "POST /wechat")) and not wechat_configured:
            case.expected = expect(404, anonymous=404)  # the bot is off: the push URL is not there
        allowed = [r for r in ROLES if 200 <= case.expected[r] < 300]
        denied = [r for r in ROLES if r not in allowed]
        shared, body = await case.make()
        before = await case.check_unchanged(object_id(shared)) if case.check_unchanged else None
        # Denied callers first, all on the shared object; allowed ones after (each on a fresh one).
        for role in denied + allowed:
            path = shared
            if case.fresh and role in allowed:
                path, body = await case.make()
            response = await call(s, case, role, path, body)
            want = case.expected[role]
            if response.status_code != want:
                wrong.append(
                    f"{case.route} [{path}] as {role}: {response.status_code} ≠ {want} {response.text[:200]}"
                )
            elif case.tag == "wechatpay":
                assert response.json()["code"] == "FAIL", response.text  # WeChat Pay's protocol answer
            elif want >= 400 and response.headers.get("content-type", "").startswith("application/json"):
                error_code(response)  # every refusal is the standard error body
            if before is not None and role == denied[-1]:
                after = await case.check_unchanged(object_id(shared))
                if after != before:
                    wrong.append(f"{case.route}: denied callers changed the object {before} → {after}")
    assert not wrong, "\n".join(wrong)


async def test_denied_transitions_leave_the_booking_as_it_was(backend, client, login):
    s = Scene(backend, client, login)
    for role in ROLES:
        s.headers[role] = {} if role == ANON else await login(role)
    s.world = await make_instrument(backend)
    await set_calendar(client, s.headers[P], s.world.instrument_id)
    booking_id = await s.booking(R1)
    before = await s.status_of(booking_id)
    for role in [ANON, R2, SB, FB, PA, R1, FA]:
        for action in ("approve", "reject", "check-in", "complete", "no-show"):
            r = await client.post(f"/api/v1/bookings/{booking_id}/{action}", headers=s.headers[role])
            assert r.status_code in {401, 403, 404}, (role, action, r.text)
    for role in [ANON, R2, SB, FB, PA]:
        r = await client.post(f"/api/v1/bookings/{booking_id}/cancel", headers=s.headers[role])
        assert r.status_code in {401, 403, 404}, (role, r.text)
    assert await s.status_of(booking_id) == before


async def test_lists_show_only_what_the_caller_may_see(backend, client, login):
    s = Scene(backend, client, login)
    for role in ROLES:
        s.headers[role] = {} if role == ANON else await login(role)
    s.world = await make_instrument(backend)
    await set_calendar(client, s.headers[P], s.world.instrument_id)
    own, other = await s.booking(R1), await s.booking(R2)
    query = f"/api/v1/bookings?instrument_id={s.world.instrument_id}"
    seen = {}
    for role in [R1, R2, FA, P, SB, PA]:
        r = await client.get(query, headers=s.headers[role])
        assert r.status_code == 200, r.text
        seen[role] = {b["id"] for b in r.json()["items"]}
    assert seen[R1] == seen[FA] == {own}
    assert seen[R2] == {other}
    assert seen[P] == {own, other}  # the provider's own unit, without naming it
    assert seen[SB] == seen[PA] == set()  # no firm or unit of their own
    r = await client.get(f"{query}&unit={ZJLG}", headers=s.headers[P])
    assert {b["id"] for b in r.json()["items"]} == {own, other}


async def test_voucher_reads_show_only_the_callers_firm_and_region(backend, client, login):
    s = await voucher_world(backend, client, login)
    hangzhou = str((await s.vouchers.program())["id"])
    ningbo = await login(await make_user(backend, NB_SCI, Role.bureau_officer))
    r = await client.post(PROGRAMS, json=program_body(), headers=ningbo)
    assert r.status_code == 201, r.text
    nb_program = r.json()["id"]

    listed = {}
    for role in (R1, FA, P, SB, FB, PA):
        r = await client.get(PROGRAMS, headers=s.headers[role])
        assert r.status_code == 200, r.text
        listed[role] = {p["id"] for p in r.json()}
    assert listed[R1] == listed[FA] == listed[P] == set()  # programmes are the bureaus' records
    assert hangzhou in listed[SB] and nb_program not in listed[SB] and listed[SB] == listed[FB]
    assert {hangzhou, nb_program} <= listed[PA]

    qinghe = (await client.get("/api/v1/me/vouchers", headers=s.headers[R1])).json()
    assert qinghe["enterprise_ids"] == [str(QINGHE)] and qinghe["grants"]  # the demo grant
    for role in (R2, P, SB, PA):  # another firm's vouchers, asked for by id: refused, nothing shown
        r = await client.get(
            "/api/v1/me/vouchers", params={"enterprise_id": str(QINGHE)}, headers=s.headers[role]
        )
        assert r.status_code == 403, r.text
        assert error_code(r) == "not_firm_member" and "grants" not in r.text


# --- mass assignment ------------------------------------------------------------------------------
SMUGGLED = {
    "fee_fen": 1,
    "quoted_fee_fen": 1,
    "status": "completed",
    "voucher_fen": 10_000_000,
    "user_id": str(demo_id(R2)),
    "unit_id": str(HZCL),
    "id": str(uuid.uuid4()),
}


async def test_a_researcher_cannot_smuggle_fees_status_vouchers_or_owners(backend, client, login):
    researcher, provider = await login(R1), await login(P)
    world = await make_instrument(backend)
    await set_calendar(client, provider, world.instrument_id)
    start = (utcnow() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    for name, value in SMUGGLED.items():
        body = machine_time(world, start, start + timedelta(hours=1)) | {name: value}
        r = await client.post("/api/v1/bookings", json=body, headers=researcher)
        assert r.status_code == 400, (name, r.text)
        assert error_code(r) == "validation_error"
        assert name in r.text  # the answer names the refused field
    listed = await client.get(f"/api/v1/bookings?instrument_id={world.instrument_id}", headers=researcher)
    assert listed.json()["total"] == 0  # nothing was created along the way

    clean = await client.post(
        "/api/v1/bookings", json=machine_time(world, start, start + timedelta(hours=1)), headers=researcher
    )
    assert clean.status_code == 201
    booking = clean.json()
    assert booking["user_id"] == str(demo_id(R1)) and booking["enterprise_id"] == str(QINGHE)
    assert booking["quote"]["fee_fen"] == 20_000  # external rate, one hour: the server's price

    # A transition body cannot carry a status, a fee or a new owner either.
    for name, value in SMUGGLED.items():
        r = await client.post(
            f"/api/v1/bookings/{booking['id']}/cancel", json={"reason": "x", name: value}, headers=researcher
        )
        assert r.status_code == 400 and error_code(r) == "validation_error", (name, r.text)
    r = await client.post(
        f"/api/v1/bookings/{booking['id']}/complete",
        json={"fee_fen": 1, "samples": 1},
        headers=provider,
    )
    assert r.status_code == 400 and "fee_fen" in r.text


async def test_a_rating_body_cannot_set_owner_instrument_or_visibility(backend, client, login):
    s = Scene(backend, client, login)
    for role in ROLES:
        s.headers[role] = {} if role == ANON else await login(role)
    s.world = await make_instrument(backend)
    await set_calendar(client, s.headers[P], s.world.instrument_id)
    booking_id, _ = await s.delivered_booking()
    for name, value in {
        "user_id": str(demo_id(R2)),
        "instrument_id": str(uuid.uuid4()),
        "hidden": False,
        "reply": "自己回复",
        "status": "visible",
        **SMUGGLED,
    }.items():
        r = await client.post(
            f"/api/v1/bookings/{booking_id}/rating", json=RATING | {name: value}, headers=s.headers[R1]
        )
        assert r.status_code == 400 and error_code(r) == "validation_error", (name, r.text)
    r = await client.post(f"/api/v1/bookings/{booking_id}/rating", json=RATING, headers=s.headers[R1])
    assert r.status_code == 201
    assert r.json()["reply"] is None


async def test_members_cannot_be_added_with_a_higher_role_than_the_org_allows(backend, client, login):
    firm_admin = await login(FA)
    username = await make_user(backend, demo_id("firm-lanwan"))
    for role in (Role.platform_admin, Role.provider_staff, Role.bureau_officer):
        r = await client.post(
            f"/api/v1/organizations/{QINGHE}/members",
            json={"username": username, "role": role.value},
            headers=firm_admin,
        )
        assert r.status_code == 400, r.text
    r = await client.post(
        f"/api/v1/organizations/{QINGHE}/members",
        json={"username": username, "role": "researcher", "organization_id": str(ZJLG)},
        headers=firm_admin,
    )
    assert r.status_code == 400 and error_code(r) == "validation_error"


# Fields a voucher body might try to set that only the server decides.
MONEY_SMUGGLED = {
    "voucher_fen": 10_000_000,
    "amount_fen": 10_000_000,
    "balance_fen": 10_000_000,
    "budget_available_fen": 10_000_000,
    "total_fen": 1,
    "status": "paid",
    "region_code": "330200",
    "enterprise_id": str(QINGHE),
    "created_by": str(demo_id(R1)),
    "id": str(uuid.uuid4()),
}


async def voucher_world(backend: Any, client: Any, login: Any) -> Scene:
    """Signed-in roles, a bookable instrument of 之江理工, a clerk and a batch approved to be paid."""
    s = Scene(backend, client, login)
    for role in ROLES:
        s.headers[role] = {} if role == ANON else await login(role)
    s.world = await make_instrument(backend)
    await set_calendar(client, s.headers[P], s.world.instrument_id)
    s.clerk = await login(await make_user(backend, HZ_SCI, Role.bureau_officer))
    s.vouchers = VoucherDesk(backend, login)
    return s


async def settlement_count(backend: Any) -> int:
    from sqlalchemy import func, select

    from vouchers.models import SettlementBatch

    async with backend.runtime.session_maker() as session:
        return int(await session.scalar(select(func.count()).select_from(SettlementBatch)) or 0)


async def test_a_firm_cannot_smuggle_amounts_balances_or_states_into_voucher_bodies(backend, client, login):
    s = await voucher_world(backend, client, login)
    program = str((await s.vouchers.program())["id"])
    approved = await s.settlement("approved")
    completed = await s.completed()
    firm_before = {
        who: (await client.get("/api/v1/me/vouchers", headers=s.headers[who])).json() for who in (R1, FA)
    }
    programs_before = await s.program_state(program)
    batches_before, batch_before = await settlement_count(backend), await s.batch_state(approved)
    statement_before = await s.statement_state(completed)

    bodies = {
        PROGRAMS: program_body(),
        f"{PROGRAMS}/{program}/grants": {"enterprise_id": str(QINGHE), "amount_fen": 100},
        SETTLEMENTS: s.period(),
        f"{SETTLEMENTS}/{approved}/mark-paid": {"bank_reference": "ICBC-FORGED"},
        f"/api/v1/bookings/{completed}/payment-received": {"reference": "自己确认"},
        f"/api/v1/bookings/{completed}/voucher-refund": {"amount_fen": 100, "reason": "自己退券"},
    }
    for who in (R1, FA):
        for path, body in bodies.items():
            for name, value in MONEY_SMUGGLED.items():
                r = await client.post(path, json={**body, name: value}, headers=s.headers[who])
                assert 400 <= r.status_code < 500, (who, path, name, r.text)
                error_code(r)  # the standard error body
            clean = await client.post(path, json=body, headers=s.headers[who])
            assert clean.status_code in {403, 404}, (who, path, clean.text)  # not theirs to do anyway

    for who in (R1, FA):
        after = (await client.get("/api/v1/me/vouchers", headers=s.headers[who])).json()
        assert {k: after[k] for k in ("available_fen", "held_fen", "grants")} == {
            k: firm_before[who][k] for k in ("available_fen", "held_fen", "grants")
        }
    assert await s.program_state(program) == programs_before
    assert await settlement_count(backend) == batches_before
    assert await s.batch_state(approved) == batch_before
    assert await s.statement_state(completed) == statement_before


async def test_a_bureau_cannot_set_what_the_ledger_decides_either(backend, client, login):
    """Even the officer allowed to act cannot write balances, states, regions or ids: each field
    a body does not name is a 400 naming the field, and nothing changes."""
    s = await voucher_world(backend, client, login)
    program = str((await s.vouchers.program())["id"])
    approved = await s.settlement("approved")
    batch_before = await s.batch_state(approved)
    mark_paid = f"{SETTLEMENTS}/{approved}/mark-paid"
    bodies = {
        PROGRAMS: program_body(),
        f"{PROGRAMS}/{program}/grants": {"enterprise_id": str(await new_org(backend)), "amount_fen": 100},
        SETTLEMENTS: s.period(),
        mark_paid: {"bank_reference": "ICBC-MATRIX"},
    }
    extra = {**MONEY_SMUGGLED, "expires_on": "2099-12-31", "paid_by": str(demo_id(SB))}
    for path, body in bodies.items():
        for name, value in extra.items():
            if name in body:
                continue  # a field this body may set
            r = await client.post(path, json={**body, name: value}, headers=s.headers[SB])
            assert r.status_code == 400 and error_code(r) == "validation_error", (path, name, r.text)
            assert name in r.text  # the answer names the refused field
    assert await s.program_state(program) == (100_000_000, 0)  # no grant, budget untouched
    assert await s.batch_state(approved) == batch_before
    paid = await client.post(mark_paid, json=bodies[mark_paid], headers=s.headers[SB])
    assert paid.status_code == 200 and paid.json()["status"] == "paid", paid.text
