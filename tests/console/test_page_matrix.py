"""The console's authorisation matrix: every page and form × every demo role (and nobody) → what
the person gets, on real objects. Beside each page, the API route that shows the same thing: a page
a role may open is never one the API would refuse it (a page shows nothing the API would not).

``tests/attack/test_authz_matrix.py`` leaves the ``/console`` routes to this table, which fails for
a console route without a row.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import httpx

from accounts.demo import demo_id
from catalogue.models import PublicationStatus
from results.dependencies import RESULT_STORAGE
from tests.attack.test_authz_matrix import (
    ANON,
    FA,
    FB,
    NB,
    PA,
    PNG,
    R1,
    R2,
    RATING,
    RN,
    ROLES,
    SB,
    UA,
    P,
    app_routes,
    voucher_world,
)
from tests.booking.world import day_at, machine_time, make_instrument, make_user, set_calendar, user_id
from tests.catalogue.helpers import as_csv
from tests.catalogue.helpers import row as import_row
from tests.console.desk import console_client, csrf_of, signed_in
from tests.console.evaluation_pages import FRESH as EVALUATION_FRESH
from tests.console.evaluation_pages import evaluation_with_zjlg, fresh_object
from tests.vouchers.desk import new_org
from vouchers.models import PaymentReconciliation
from yixiang.long_jobs import JobStatus, LongJob
from yixiang.outbox import EventStatus, OutboxEvent

DESK = [P, UA, SB, FB, PA]
YEARS = itertools.count(2010)  # a year of its own for each publication (the authz matrix's start at 2000)
STAFF = [P, UA]
BOOKERS = [R1, R2, FA, RN]
BUREAU = [SB, FB]
REVIEW_FORM = {
    "category_code": "0201",
    "instrument_name": "矩阵拟购仪器",
    "model": "M-1",
    "price_yuan": "600000",
    "origin": "domestic",
    "expected_hours_per_year": "800",
    "justification": "矩阵测试申报",
}


@dataclass(frozen=True)
class Row:
    allowed: list[str]  # roles that get the page (200) or whose form is done (303); others 403
    path: str  # with {booking} / {batch} for the objects
    api: str | None = None  # the API route showing the same (GET), checked to agree
    form: dict[str, str] | None = None  # a POST: the form's fields (its token added)
    upload: bool = False  # a streamed upload: its token in the address, a file in the body
    push: bool = False  # a monthly push file posted with the form
    unseen: tuple[str, ...] = ()  # roles the object is not there for (404, as the API answers)


# "METHOD template" as the app declares it → the row. Forms that change state come after the
# pages that show it, on objects of their own (so one role's action does not change another's).
ROWS: dict[str, Row] = {
    "GET /console": Row(DESK, "/console", api="/api/v1/me"),
    "GET /console/login": Row(ROLES, "/console/login"),  # anyone; signed in: on to /console
    "POST /console/login": Row(ROLES, "/console/login"),  # tested in test_pages (its own token)
    "POST /console/logout": Row(ROLES, "/console/logout"),  # tested in test_pages
    # WeChat's QR sign-in, where configured (tested in test_wechat_signin against the fake)
    "GET /console/login/wechat": Row(ROLES, "/console/login/wechat"),
    "GET /console/login/wechat/callback": Row(ROLES, "/console/login/wechat/callback"),
    "GET /console/bookings": Row(STAFF, "/console/bookings?when=all", api="/api/v1/bookings?unit={unit}"),
    "POST /console/bookings/{booking_id:uuid}/results": Row(
        STAFF, "/console/bookings/{fresh_completed}/results", form={}, upload=True
    ),
    "GET /console/instruments": Row(STAFF, "/console/instruments", api="/api/v1/provider/instruments"),
    "POST /console/instruments/import": Row(STAFF, "/console/instruments/import", form={}, push=True),
    # a new instrument (新增仪器): the unit's staff, as the API's create (test_instrument_new)
    "GET /console/instruments/new": Row(
        STAFF, "/console/instruments/new", api="/api/v1/provider/instruments"
    ),
    "POST /console/instruments": Row(
        STAFF,
        "/console/instruments",
        form={
            "name": "矩阵新增仪器",
            "category_code": "0101",
            "original_value_yuan": "600000",
            "region_code": "330106",
            "origin": "domestic",
        },
    ),
    # one instrument: details, fees, calendar, closures (its unit's staff; test_instrument_edit)
    "GET /console/instruments/{instrument_id:uuid}": Row(
        STAFF, "/console/instruments/{fresh_draft}", api="/api/v1/provider/instruments"
    ),
    "POST /console/instruments/{instrument_id:uuid}/details": Row(
        STAFF, "/console/instruments/{fresh_draft}/details", form={"name": "矩阵仪器"}
    ),
    "POST /console/instruments/{instrument_id:uuid}/calendar": Row(
        STAFF, "/console/instruments/{fresh_draft}/calendar", form={"hours_0": "09:00-17:00"}
    ),
    "POST /console/instruments/{instrument_id:uuid}/closures": Row(
        STAFF,
        "/console/instruments/{fresh_draft}/closures",
        form={"start": "2099-03-02T08:00", "end": "2099-03-02T12:00", "reason": "矩阵"},
    ),
    "POST /console/instruments/{instrument_id:uuid}/closures/{closure_id:uuid}/remove": Row(
        STAFF, "/console/instruments/{fresh_closure}/remove", form={}
    ),
    "GET /console/instruments/export": Row(
        STAFF, "/console/instruments/export?format=csv", api="/api/v1/provider/instruments/export"
    ),
    "POST /console/instruments/{instrument_id:uuid}/{action:str}": Row(
        STAFF, "/console/instruments/{fresh_draft}/submit", form={}
    ),
    "GET /console/qualifications": Row(
        STAFF, "/console/qualifications", api="/api/v1/provider/qualifications?unit={unit}"
    ),
    "POST /console/qualifications": Row(
        STAFF,
        "/console/qualifications",
        form={"username": "demo-researcher", "expires_on": "2099-12-31", "instrument_id": ""},
    ),
    "POST /console/qualifications/{qualification_id:uuid}/revoke": Row(
        STAFF, "/console/qualifications/{fresh_qualification}/revoke", form={}
    ),
    "GET /console/samples": Row(STAFF, "/console/samples", api="/api/v1/bookings?unit={unit}"),
    "GET /console/bookings/{booking_id:uuid}": Row(
        STAFF, "/console/bookings/{booking}", api="/api/v1/bookings/{booking}"
    ),
    "POST /console/bookings/{booking_id:uuid}/{action:str}": Row(
        STAFF, "/console/bookings/{fresh_booking}/no-show", form={}
    ),
    "GET /console/ratings": Row(STAFF, "/console/ratings", api="/api/v1/bookings?unit={unit}"),
    "POST /console/ratings/{rating_id:uuid}/reply": Row(
        STAFF, "/console/ratings/{fresh_rating}/reply", form={"reply": "谢谢"}
    ),
    "GET /console/unit-statements": Row(
        STAFF, "/console/unit-statements", api="/api/v1/bookings/{captured}/statement"
    ),
    "POST /console/unit-statements/{booking_id:uuid}/payment-received": Row(
        STAFF, "/console/unit-statements/{fresh_completed}/payment-received", form={"reference": "对公-矩阵"}
    ),
    "GET /console/programs": Row([SB, FB, PA], "/console/programs", api="/api/v1/voucher-programs"),
    "POST /console/programs": Row(BUREAU, "/console/programs", form={"name": "矩阵项目"}),
    "GET /console/programs/{program_id:uuid}": Row(
        [SB, FB, PA], "/console/programs/{program}", api="/api/v1/voucher-programs/{program}"
    ),
    "POST /console/programs/{program_id:uuid}/grants": Row(
        BUREAU, "/console/programs/{program}/grants", form={"uscc": "", "amount_yuan": "10"}
    ),
    "GET /console/applications": Row(
        [SB, FB, PA], "/console/applications", api="/api/v1/voucher-applications"
    ),
    "GET /console/applications/{application_id:uuid}": Row(
        [SB, FB, PA], "/console/applications/{application}", api="/api/v1/voucher-applications/{application}"
    ),
    "GET /console/applications/{application_id:uuid}/documents/{attachment_id:uuid}": Row(
        [SB, FB, PA],
        "/console/applications/{application}/documents/{document}",
        api="/api/v1/voucher-applications/{application}/attachments/{document}",
    ),
    "POST /console/applications/{application_id:uuid}/{decision:str}": Row(
        BUREAU, "/console/applications/{fresh_application}/approve", form={}
    ),
    "GET /console/settlements": Row([SB, FB, PA], "/console/settlements", api="/api/v1/settlements"),
    "POST /console/settlements": Row(
        BUREAU, "/console/settlements", form={"period_start": "", "period_end": ""}
    ),
    "GET /console/settlements/{batch_id:uuid}": Row(
        [SB, FB, PA], "/console/settlements/{batch}", api="/api/v1/settlements/{batch}"
    ),
    "POST /console/settlements/{batch_id:uuid}/{action:str}": Row(
        BUREAU, "/console/settlements/{fresh_batch}/discard", form={}
    ),
    "GET /console/settlements/{batch_id:uuid}/export": Row(
        [SB, FB, PA],
        "/console/settlements/{batch}/export?format=csv",
        api="/api/v1/settlements/{batch}/export",
    ),
    "GET /console/statements/{booking_id:uuid}": Row(
        DESK, "/console/statements/{captured}", api="/api/v1/bookings/{captured}/statement"
    ),
    "GET /console/region": Row(BUREAU, "/console/region", api="/api/v1/voucher-programs"),
    "GET /console/oversight": Row(DESK, "/console/oversight", api="/api/v1/oversight/idle"),
    "GET /console/oversight/export": Row(
        DESK, "/console/oversight/export?list=sensor&format=csv", api="/api/v1/oversight/overdue-sensors"
    ),
    "GET /console/outbox": Row([PA], "/console/outbox?status=all", api="/api/v1/ledger/check"),
    "POST /console/outbox/{event_id:int}/retry": Row(
        [PA], "/console/outbox/{fresh_dead_event}/retry", form={}
    ),
    "GET /console/users": Row([PA], "/console/users", api="/api/v1/ledger/check"),
    "GET /console/search-index": Row([PA], "/console/search-index", api="/api/v1/ledger/check"),
    "POST /console/search-index/reindex": Row([PA], "/console/search-index/reindex", form={}),
    # a unit's import job: its staff and the operator (other units' staff: test_long_jobs); the
    # job is the console's own (no API shows it). The bureaus open the jobs they started (their
    # downloads: test_export_jobs); a unit's job is not there for them
    "GET /console/jobs/{job_id:uuid}": Row([P, UA, PA], "/console/jobs/{job}", unseen=(SB, FB, NB)),
    "GET /console/jobs/{job_id:uuid}/file": Row(
        [P, UA, PA], "/console/jobs/{export_job}/file", unseen=(SB, FB, NB)
    ),
    "GET /console/audit": Row(
        [PA], "/console/audit?entity=instrument", api="/api/v1/audit?entity=instrument"
    ),
    "POST /console/users/{user_id:uuid}/sign-out": Row([PA], "/console/users/{fresh_user}/sign-out", form={}),
    "GET /console/working-days": Row(
        [PA], "/console/working-days?year=2099", api="/api/v1/admin/working-days?year=2099"
    ),
    "POST /console/working-days": Row(
        [PA], "/console/working-days", form={"day": "2099-01-06", "kind": "holiday"}
    ),
    "GET /console/static/{file_path:path}": Row(ROLES, "/console/static/console.css"),
    # the firm's phone payment page (the bot's link): its members only; another firm's or region's
    # people do not see the booking at all
    "GET /console/m/bookings/{booking_id:uuid}/pay": Row(
        [R1, FA],
        "/console/m/bookings/{captured}/pay",
        api="/api/v1/bookings/{captured}/statement",
        unseen=(R2, RN, NB),
    ),
    "POST /console/m/bookings/{booking_id:uuid}/pay/{channel:str}": Row(
        [R1, FA], "/console/m/bookings/{captured}/pay/native", form={}, unseen=(R2, RN, NB)
    ),
    # WeChat Pay at the desks: reconciliations (finance all, a unit its merchant's), refunds, the
    # unit's fee correction (its refunds: test_payments_desk). The two payment forms post on the
    # paid booking what its service refuses with a message (nothing owed; not an amount): who gets
    # past the page is checked without changing it
    "GET /console/payment-reconciliations": Row(
        DESK, "/console/payment-reconciliations", api="/api/v1/payment-reconciliations"
    ),
    "GET /console/payment-reconciliations/{reconciliation_id:uuid}": Row(
        [FB, PA],
        "/console/payment-reconciliations/{reconciliation}",
        api="/api/v1/payment-reconciliations/{reconciliation}",
        unseen=(P, UA, SB, NB),
    ),
    "POST /console/payment-reconciliations": Row(
        [FB, PA], "/console/payment-reconciliations", form={"day": "2026-12-01", "sub_mchid": ""}
    ),
    "GET /console/payment-refunds": Row(DESK, "/console/payment-refunds", api="/api/v1/payment-refunds"),
    "POST /console/statements/{booking_id:uuid}/fee-correction": Row(
        STAFF, "/console/statements/{captured}/fee-correction", form={"fee_yuan": "一元", "reason": "矩阵"}
    ),
    # the yearly report (统计年报): the region's bureaus preview the draft; its science bureau
    # publishes (the finance bureau's form is refused on the page, with the service's message)
    "GET /console/yearly-reports": Row(
        BUREAU, "/console/yearly-reports?year=2024", api="/api/v1/oversight/yearly-reports/330100/2024/draft"
    ),
    "POST /console/yearly-reports/{region:str}/{year:int}/publish": Row(
        BUREAU, "/console/yearly-reports/330100/{fresh_year}/publish", form={}
    ),
    # sharing rewards: the bureaus of the region (the service refuses a science officer the
    # finance bureau's steps: a message on the page), the unit its own line's bookings
    "GET /console/rewards": Row([SB, FB, PA], "/console/rewards", api="/api/v1/reward-batches"),
    "POST /console/reward-programmes": Row(BUREAU, "/console/reward-programmes", form={"year": "2023"}),
    "POST /console/reward-programmes/{programme_id:uuid}": Row(
        BUREAU, "/console/reward-programmes/{fresh_reward_programme}", form={"rate_percent": "10"}
    ),
    "POST /console/reward-programmes/{programme_id:uuid}/batches": Row(
        BUREAU, "/console/reward-programmes/{fresh_reward_programme}/batches", form={}
    ),
    "GET /console/reward-batches/{batch_id:uuid}": Row(
        [SB, FB, PA], "/console/reward-batches/{reward_batch}", api="/api/v1/reward-batches/{reward_batch}"
    ),
    "POST /console/reward-batches/{batch_id:uuid}/{action:str}": Row(
        BUREAU, "/console/reward-batches/{fresh_reward_batch}/discard", form={}
    ),
    "GET /console/reward-batches/{batch_id:uuid}/export": Row(
        [SB, FB, PA],
        "/console/reward-batches/{reward_batch}/export?format=csv",
        api="/api/v1/reward-batches/{reward_batch}/export",
    ),
    "GET /console/unit-rewards": Row(STAFF, "/console/unit-rewards", api="/api/v1/reward-lines"),
    "GET /console/reward-batches/{batch_id:uuid}/lines/{unit_id:uuid}": Row(
        [P, UA, SB, FB, PA],
        "/console/reward-batches/{reward_batch}/lines/{unit}",
        api="/api/v1/reward-batches/{reward_batch}/lines/{unit}/bookings",
    ),
    # purchase review (购置查重评议): units file, the region's desks read, its science bureau decides
    "GET /console/purchase-reviews": Row(
        DESK, "/console/purchase-reviews", api="/api/v1/oversight/purchase-reviews"
    ),
    "POST /console/purchase-reviews": Row(STAFF, "/console/purchase-reviews", form=REVIEW_FORM),
    "GET /console/purchase-reviews/{review_id:uuid}": Row(
        DESK, "/console/purchase-reviews/{review}", api="/api/v1/oversight/purchase-reviews/{review}"
    ),
    "GET /console/purchase-reviews/{review_id:uuid}/pdf": Row(
        DESK, "/console/purchase-reviews/{review}/pdf", api="/api/v1/oversight/purchase-reviews/{review}/pdf"
    ),
    "POST /console/purchase-reviews/{review_id:uuid}/decision": Row(
        [SB],
        "/console/purchase-reviews/{fresh_review}/decision",
        form={"verdict": "通过", "reasons": "矩阵同意"},
    ),
    # review experts (评议专家): the science bureau of the review's region appoints and ends them
    # (test_review_experts); each appoints a user of its own, nobody whose rights other rows test
    "POST /console/purchase-reviews/{review_id:uuid}/experts": Row(
        [SB], "/console/purchase-reviews/{fresh_review}/experts", form={"username": "{expert_user}"}
    ),
    "POST /console/purchase-reviews/{review_id:uuid}/experts/{expert_id:uuid}/revoke": Row(
        [SB], "/console/purchase-reviews/{fresh_review_expert}/revoke", form={}
    ),
    # the yearly evaluation (the science bureau runs it, the finance bureau co-signs; a unit its
    # own draft) and complaints (the region's bureaus, the unit concerned): evaluation_pages.py
    "GET /console/evaluations": Row(
        [SB, FB, PA], "/console/evaluations", api="/api/v1/oversight/evaluations"
    ),
    "POST /console/evaluations": Row(BUREAU, "/console/evaluations", form={"year": "1999"}),
    "GET /console/evaluations/{evaluation_id:uuid}": Row(
        [SB, FB, PA], "/console/evaluations/{evaluation}", api="/api/v1/oversight/evaluations/{evaluation}"
    ),
    "POST /console/evaluations/{evaluation_id:uuid}/{action:str}": Row(
        BUREAU, "/console/evaluations/{fresh_evaluation}/submit", form={}
    ),
    "POST /console/evaluation-results/{result_id:uuid}/adjust": Row(
        BUREAU,
        "/console/evaluation-results/{fresh_result}/adjust",
        form={"score": "88", "reason": "矩阵：复核调整"},
    ),
    "POST /console/score-adjustments/{adjustment_id:uuid}/{decision:str}": Row(
        BUREAU, "/console/score-adjustments/{fresh_adjustment}/approve", form={}
    ),
    "POST /console/evaluation-objections/{objection_id:uuid}/answer": Row(
        BUREAU, "/console/evaluation-objections/{fresh_objection}/answer", form={"answer": "矩阵：维持原评分"}
    ),
    "GET /console/my-evaluation": Row(
        STAFF, "/console/my-evaluation", api="/api/v1/oversight/my-evaluation-results"
    ),
    "POST /console/evaluation-results/{result_id:uuid}/objection": Row(
        STAFF, "/console/evaluation-results/{fresh_result}/objection", form={"reason": "矩阵：数据有误请核实"}
    ),
    "GET /console/complaints": Row(DESK, "/console/complaints", api="/api/v1/complaints"),
    "POST /console/complaints/{complaint_id:uuid}/{action:str}": Row(
        BUREAU, "/console/complaints/{fresh_complaint}/accept", form={}
    ),
    # the researcher's phone pages (issue 24): finding and reading instruments is anyone's who
    # signed in (the API shows them to anybody); quotes, bookings and their actions are the firms'
    # people's, and a booking is there only for its firm
    "GET /console/m": Row(ROLES, "/console/m?q=%E7%94%B5%E9%95%9C", api="/api/v1/instruments/search?q=x"),
    "GET /console/m/instruments/{instrument_id:uuid}": Row(
        ROLES, "/console/m/instruments/{instrument}", api="/api/v1/instruments/{instrument}"
    ),
    "GET /console/m/instruments/{instrument_id:uuid}/book": Row(
        ROLES, "/console/m/instruments/{instrument}/book", api="/api/v1/instruments/{instrument}/availability"
    ),
    "GET /console/m/instruments/{instrument_id:uuid}/quote": Row(
        BOOKERS,
        "/console/m/instruments/{instrument}/quote?mode=sample_testing&samples=1&service_item_id={sample_item}",
    ),
    "POST /console/m/bookings": Row(
        BOOKERS,
        "/console/m/bookings",
        form={
            "instrument_id": "{instrument}",
            "service_item_id": "{sample_item}",
            "mode": "sample_testing",
            "samples": "1",
            "idem": "{key}",
        },
    ),
    "GET /console/m/bookings": Row(ROLES, "/console/m/bookings", api="/api/v1/bookings?mine=true"),
    "GET /console/m/bookings/{booking_id:uuid}": Row(
        [R1, FA], "/console/m/bookings/{booking}", api="/api/v1/bookings/{booking}", unseen=(R2, RN)
    ),
    "POST /console/m/bookings/{booking_id:uuid}/cancel": Row(
        [R1, FA], "/console/m/bookings/{fresh_booking}/cancel", form={"idem": "{key}"}, unseen=(R2, RN)
    ),
    "POST /console/m/bookings/{booking_id:uuid}/rating": Row(
        [R1, FA],
        "/console/m/bookings/{fresh_delivered}/rating",
        form={"idem": "{key}", "overall": "5"},
        unseen=(R2, RN),
    ),
    # the waiting list on the phone: a held range's form is the firms' people's (as the quote); an
    # entry and its offer are there only for the one who queued (as the API's entries)
    "GET /console/m/instruments/{instrument_id:uuid}/waitlist": Row(
        BOOKERS, "/console/m/instruments/{instrument}/waitlist?range_start={far_start}&range_end={far_end}"
    ),
    "POST /console/m/waitlist": Row(
        BOOKERS,
        "/console/m/waitlist",
        form={
            "instrument_id": "{instrument}",
            "mode": "machine_time",
            "operation": "operator",
            "start": "2099-03-02T09:00:00+08:00",
            "end": "2099-03-02T10:00:00+08:00",
            "idem": "{key}",
        },
    ),
    "POST /console/m/waitlist/{entry_id:uuid}/accept": Row(
        [R1], "/console/m/waitlist/{fresh_entry}/accept", form={"idem": "{key}"}, unseen=(R2, FA, RN)
    ),
    "POST /console/m/waitlist/{entry_id:uuid}/decline": Row(
        [R1], "/console/m/waitlist/{fresh_entry}/decline", form={"idem": "{key}"}, unseen=(R2, FA, RN)
    ),
    "GET /console/m/firm": Row([FA], "/console/m/firm", api="/api/v1/me/vouchers"),
    # one's own personal data (PIPL); erasing for real: tests/privacy (it would end demo accounts)
    "GET /console/m/me": Row(ROLES, "/console/m/me", api="/api/v1/me/notification-consent"),
    "GET /console/m/me/personal-data": Row(
        ROLES, "/console/m/me/personal-data", api="/api/v1/me/personal-data"
    ),
    "POST /console/m/me/consent": Row(
        ROLES, "/console/m/me/consent", form={"idem": "{key}", "given": "true"}
    ),
    "POST /console/m/me/erasure": Row(ROLES, ""),
    "GET /console/m/oauth": Row(ROLES, ""),  # WeChat's authorisation: tested in test_phone_signin
    # the order check: tested in test_pay_pages (an order needs the fake WeChat Pay)
    "POST /console/m/payment-orders/{out_trade_no:str}/check": Row(ROLES, ""),
}
# Objects each allowed caller of a form gets anew (made by ``fresh`` in the test).
FRESH = (
    "fresh_booking",
    "fresh_batch",
    "fresh_rating",
    "fresh_completed",
    "fresh_application",
    "fresh_dead_event",
    "fresh_user",
    "fresh_draft",
    "fresh_qualification",
    "fresh_year",
    "fresh_reward_batch",
    "fresh_reward_programme",
    "fresh_review",
    "fresh_review_expert",
    *EVALUATION_FRESH,
    "fresh_delivered",
    "fresh_closure",
    "fresh_entry",
)
SPECIAL = {"GET /console/login", "POST /console/login", "POST /console/logout"}  # tested in test_pages
SPECIAL |= {"GET /console/login/wechat", "GET /console/login/wechat/callback"}  # test_wechat_signin
SPECIAL |= {"POST /console/m/payment-orders/{out_trade_no:str}/check"}  # needs an order: test_pay_pages
SPECIAL |= {"GET /console/m/oauth"}  # needs WeChat's code: test_phone_signin
SPECIAL |= {"POST /console/m/me/erasure"}  # ends the account: tests/privacy
CONSOLE_ROUTES = set(ROWS)


def test_every_console_route_has_a_row(backend):
    console = {r for r in app_routes(backend.app) if r.split(" ", 1)[1].startswith("/console")}
    assert console == CONSOLE_ROUTES, f"without a row: {sorted(console - CONSOLE_ROUTES)}"


async def test_every_page_answers_each_role_as_the_api_does(backend, client, login):
    s = await voucher_world(backend, client, login)
    for role in (R1, R2, FA, P, UA, SB, FB, PA):
        s.headers[role] = await login(role)
    objects = {
        "unit": str(demo_id("unit-zjlg")),
        "booking": await s.booking(R1),
        "captured": await s.fully_evidenced(),
        "batch": await s.settlement("draft"),
        "program": await s.new_program(),
        "application": await s.application(),
        "reconciliation": str(await direct_merchants_day(backend)),
        "review": await purchase_review(client, s.headers[P]),
        "evaluation": (await evaluation_with_zjlg(backend, client, s.headers[SB]))[0],
        "job": str(await import_job(backend)),
        "export_job": str(await export_job(backend)),
        "expert_user": await make_user(backend, demo_id("unit-hzcl")),
    }
    made = await make_instrument(backend)
    objects |= {"instrument": str(made.instrument_id), "sample_item": str(made.sample_item_id)}
    objects |= {
        "far_start": "2099-03-02T09%3A00%3A00%2B08%3A00",
        "far_end": "2099-03-02T11%3A00%3A00%2B08%3A00",
    }
    r = await client.post(
        f"/api/v1/voucher-applications/{objects['application']}/attachments",
        files={"file": ("营业执照.png", PNG, "image/png")},
        headers=s.headers[FA],
    )
    assert r.status_code == 201, r.text
    objects["document"] = str(r.json()["attachments"][0]["id"])
    rewards = RewardDesk(backend, client, s.headers[FB])
    objects["reward_batch"] = await rewards.redrawn(await rewards.programme(2022))
    reward_batches, reward_programme = await rewards.programme(2020), await rewards.programme(2021)
    people: dict[str, httpx.AsyncClient] = {ANON: console_client(backend)}
    for role in ROLES:
        if role != ANON:
            people[role] = await signed_in(backend, role)

    entries: list[str] = []  # R1's waiting-list entries, left again at the end

    async def fresh(name: str) -> str:
        if name in EVALUATION_FRESH:
            return await fresh_object(name, backend, client, s.headers)
        if name == "fresh_booking":
            return await s.booking(R1)
        if name == "fresh_rating":
            delivered, _ = await s.delivered_booking()
            r = await client.post(f"/api/v1/bookings/{delivered}/rating", json=RATING, headers=s.headers[R1])
            return str(r.json()["id"])
        if name == "fresh_completed":
            return await s.completed()
        if name == "fresh_delivered":
            return (await s.delivered_booking())[0]
        if name == "fresh_qualification":
            world = await make_instrument(backend)
            body = {"username": R1, "expires_on": "2099-12-31", "instrument_id": str(world.instrument_id)}
            r = await client.post("/api/v1/provider/qualifications", json=body, headers=s.headers[P])
            assert r.status_code == 201, r.text
            return str(r.json()["id"])
        if name == "fresh_closure":  # "{instrument}/closures/{closure}"
            world = await make_instrument(backend, publication=PublicationStatus.draft)
            body = {"start": "2099-03-03T08:00:00+08:00", "end": "2099-03-03T12:00:00+08:00"}
            r = await client.post(
                f"/api/v1/provider/instruments/{world.instrument_id}/closures",
                json=body,
                headers=s.headers[P],
            )
            assert r.status_code in (200, 201), r.text
            made = r.json()
            return f"{world.instrument_id}/closures/{made.get('closure', made)['id']}"
        if name == "fresh_entry":  # R1 waits for time R2 holds
            world = await make_instrument(backend)
            await set_calendar(client, s.headers[P], world.instrument_id)
            wanted = machine_time(world, day_at(3, 10), day_at(3, 11))
            r = await client.post("/api/v1/bookings", json=wanted, headers=s.headers[R2])
            assert r.status_code == 201, r.text
            r = await client.post("/api/v1/waitlist", json=wanted, headers=s.headers[R1])
            assert r.status_code == 201, r.text
            entries.append(str(r.json()["id"]))
            return entries[-1]
        if name == "fresh_draft":
            return str((await make_instrument(backend, publication=PublicationStatus.draft)).instrument_id)
        if name == "fresh_year":
            return str(next(YEARS))
        if name == "fresh_application":
            return await s.application()
        if name == "fresh_dead_event":
            return str(await dead_event(backend))
        if name == "fresh_reward_batch":
            return await rewards.redrawn(reward_batches)
        if name == "fresh_reward_programme":
            await rewards.discard_drafts(reward_programme)
            return reward_programme
        if name == "fresh_review":
            return await purchase_review(client, s.headers[P])
        if name == "fresh_review_expert":  # "{review}/experts/{expert}"
            body = {"username": await make_user(backend, demo_id("unit-hzcl"))}
            r = await client.post("/api/v1/oversight/review-experts", json=body, headers=s.headers[SB])
            assert r.status_code == 201, r.text
            return f"{await purchase_review(client, s.headers[P])}/experts/{r.json()['id']}"
        if name == "fresh_user":
            return str(await user_id(backend, await make_user(backend, demo_id("firm-qinghe"))))
        return await s.settlement("draft")

    wrong: list[str] = []
    for route, row in ROWS.items():
        if route in SPECIAL:
            continue
        for role in ROLES:
            path = row.path.format(**objects, **{name: "{" + name + "}" for name in FRESH})
            for name in FRESH:
                if "{" + name + "}" in path:
                    path = path.replace("{" + name + "}", await fresh(name))
            who = people[role]
            if row.form is None:
                r = await who.get(path)
            else:
                token = csrf_of(await who.get("/console/login")) if role == ANON else await token_of(who)
                form = {k: v.format(**objects, key=uuid.uuid4().hex) for k, v in row.form.items()}
                if "period_start" in form:
                    form.update(s.period())
                if "uscc" in form:  # a firm of the region the programme may grant
                    uscc = f"91330106{uuid.uuid4().hex[:10].upper()}"
                    await new_org(backend, uscc=uscc)
                    form["uscc"] = uscc
                if row.push:
                    push = as_csv([import_row(f"M-{uuid.uuid4().hex[:10]}")])
                    r = await who.post(
                        path, data={"_csrf": token}, files={"file": ("push.csv", push, "text/csv")}
                    )
                elif row.upload:
                    r = await who.post(f"{path}?_csrf={token}", files={"file": ("x.png", PNG, "image/png")})
                else:
                    r = await who.post(path, data={"_csrf": token, **form})
            got = r.status_code
            if role == ANON and not path.startswith("/console/static"):
                want = 303  # to the sign-in form
                if got != want or not r.headers.get("location", "").startswith("/console/login"):
                    wrong.append(f"{route} as nobody: {got}, {r.headers.get('location')}")
                continue
            want = (303 if row.form is not None else 200) if role in row.allowed else 403
            if role in row.unseen:
                want = 404
            if role == NB and SB in row.allowed and row.allowed != ROLES:  # (not pages for everyone)
                # 宁波's science officer: its own region's lists and forms as 杭州's officer has
                # them; 杭州's objects are not there for it (404, as the API answers)
                want = 404 if "{" in row.path else (303 if row.form is not None else 200)
            if got != want:
                wrong.append(f"{route} [{path}] as {role}: {got} ≠ {want} {r.text[:160]}")
            if want == 403 and ("<table" in r.text or "预约号" in r.text):
                wrong.append(f"{route} as {role}: the refusal shows data")
            if row.api and role in row.allowed and role != ANON:
                api = await client.get(row.api.format(**objects), headers=s.headers[role])
                if api.status_code != 200:
                    wrong.append(
                        f"{route} as {role}: the page shows what the API refuses ({api.status_code})"
                    )
    for entry in entries:  # (the suite's database is shared: R1's phone pages list open entries)
        await client.post(f"/api/v1/waitlist/{entry}/decline", headers=s.headers[R1])
    assert not wrong, "\n".join(wrong)


class RewardDesk:
    """Reward programmes of 杭州 for years of their own, each with a booking of 之江理工 to reward,
    and draft batches drawn (and discarded) on them through the API, as the finance bureau."""

    def __init__(self, backend, client, finance: dict[str, str]) -> None:
        self.backend, self.client, self.finance = backend, client, finance

    async def programme(self, year: int) -> str:
        from tests.oversight.rewards_world import in_year, served

        world = await make_instrument(self.backend)
        await served(
            self.backend, world, demo_id("unit-zjlg"), demo_id("firm-qinghe"), 1_000_000, in_year(year)
        )
        r = await self.client.post("/api/v1/reward-programmes", json={"year": year}, headers=self.finance)
        if r.status_code == 409:  # made by an earlier run on this database
            listed = (await self.client.get("/api/v1/reward-programmes", headers=self.finance)).json()
            return str(next(p["id"] for p in listed if p["year"] == year and p["region_code"] == "330100"))
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def discard_drafts(self, programme_id: str) -> None:
        batches = (await self.client.get("/api/v1/reward-batches", headers=self.finance)).json()
        for b in batches:
            if b["programme_id"] == programme_id and b["status"] == "draft":
                r = await self.client.post(f"/api/v1/reward-batches/{b['id']}/discard", headers=self.finance)
                assert r.status_code == 200, r.text

    async def redrawn(self, programme_id: str) -> str:
        """A new draft batch of the programme (its earlier draft discarded)."""
        await self.discard_drafts(programme_id)
        r = await self.client.post(f"/api/v1/reward-programmes/{programme_id}/batches", headers=self.finance)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


async def purchase_review(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """A proposed purchase of 之江理工 above the threshold: its report awaits the decision."""
    body = {
        "category_code": "0201",
        "instrument_name": "矩阵拟购仪器",
        "model": "M-1",
        "price_fen": 60_000_000,
        "origin": "domestic",
        "expected_hours_per_year": 800,
        "justification": "矩阵测试申报",
    }
    r = await client.post("/api/v1/oversight/purchase-reviews", json=body, headers=headers)
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    return str(r.json()["id"])


async def import_job(backend) -> uuid.UUID:
    """A finished monthly import of 之江理工's."""
    job = LongJob(
        kind="instrument_import",
        title="导入月报：matrix.csv",
        status=JobStatus.done,
        organization_id=demo_id("unit-zjlg"),
        result={"created": 1, "updated": 0},
    )
    async with backend.runtime.session_maker() as session, session.begin():
        session.add(job)
    return job.id


async def export_job(backend) -> uuid.UUID:
    """A finished download of 之江理工's bookings, its file kept where the job keeps it."""
    storage = backend.runtime.services[RESULT_STORAGE]
    key = f"exports/matrix/{uuid.uuid4().hex}"
    writer = await storage.writer(key)
    await writer.write("\ufeff预约号\r\n".encode())
    stored = await writer.finish()
    job = LongJob(
        kind="bookings_export",
        title="导出预约表（矩阵）",
        status=JobStatus.done,
        organization_id=demo_id("unit-zjlg"),
        result={
            "file": key,
            "filename": "bookings-all.csv",
            "media_type": "text/csv",
            "size": stored.size,
            "rows": 0,
        },
    )
    async with backend.runtime.session_maker() as session, session.begin():
        session.add(job)
    return job.id


async def dead_event(backend) -> int:
    """An outbox event the worker gave up on (a topic nobody consumes, marked dead as it would be)."""
    async with backend.runtime.session_maker() as session, session.begin():
        event = OutboxEvent(topic="test.console_matrix", payload={}, status=EventStatus.dead, attempts=8)
        session.add(event)
        await session.flush()
        return event.id


async def direct_merchants_day(backend) -> uuid.UUID:
    """A day's reconciliation of the direct merchant (no unit's sub-merchant: finance's alone)."""
    async with backend.runtime.session_maker() as session, session.begin():
        found = PaymentReconciliation(
            id=uuid.uuid4(),
            day=date(2000, 1, 1) + timedelta(days=uuid.uuid4().int % 9000),  # one of its own
            mchid="1900000109",
            sub_mchid="",
            bill_lines=0,
            bill_total_fen=0,
            ledger_total_fen=0,
            differences={"lines": []},
        )
        session.add(found)
        return found.id


async def token_of(who: httpx.AsyncClient) -> str:
    """The signed-in person's form token (a refusal page has the layout's sign-out form too)."""
    return csrf_of(await who.get("/console"))
