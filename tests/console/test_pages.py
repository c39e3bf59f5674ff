"""The console over HTTP as its users meet it: signing in and out, the form token, who may open
which page (the API's answer for the same thing alongside), the provider's bookings and the
bureau's settlement batches, downloads."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import update

from accounts.auth import hash_password
from accounts.demo import demo_id
from accounts.models import Role, User
from tests.attack.test_authz_matrix import FB, R1, SB, SETTLEMENTS, UA, P, Scene, voucher_world
from tests.booking.world import booked_for_the_past, iso, make_instrument, make_user, set_calendar
from tests.console.desk import console_client, csrf_of, post_form, signed_in
from yixiang.clock import SHANGHAI
from yixiang.db import utcnow

ZJLG = demo_id("unit-zjlg")


async def test_a_page_asks_for_sign_in_and_returns_there_after(backend):
    client = console_client(backend)
    r = await client.get("/console/bookings?when=all")
    assert r.status_code == 303 and r.headers["location"] == "/console/login?next=/console/bookings"
    form = await client.get(r.headers["location"])
    assert "登录工作台" in form.text and 'value="/console/bookings"' in form.text
    r = await client.post(
        "/console/login",
        data={"_csrf": csrf_of(form), "username": P, "password": "yixiang-demo", "next": "/console/bookings"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/bookings"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("yixiang_console="))
    assert {"HttpOnly", "Secure", "SameSite=lax", "Path=/console"} <= {p.strip() for p in cookie.split(";")}
    page = await client.get("/console/bookings")
    assert page.status_code == 200 and "预约管理" in page.text
    assert "content-security-policy" in page.headers and "'self'" in page.headers["content-security-policy"]


async def test_a_wrong_password_is_refused_in_chinese_and_signs_nobody_in(backend):
    client = console_client(backend)
    form = await client.get("/console/login")
    r = await client.post("/console/login", data={"_csrf": csrf_of(form), "username": P, "password": "nope"})
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    assert (await client.get("/console")).status_code == 303


async def test_a_form_without_its_token_is_refused_and_changes_nothing(backend, client, login):
    s = Scene(backend, client, login)
    s.headers = {P: await login(P), R1: await login(R1)}
    s.approval = await make_instrument(backend)
    await set_calendar(client, s.headers[P], s.approval.instrument_id, needs_approval=True)
    booking_id = await s.requested()
    provider = await signed_in(backend, P)
    for data in ({}, {"_csrf": "forged"}):
        r = await provider.post(f"/console/bookings/{booking_id}/approve", data=data)
        assert r.status_code == 403 and "表单已过期或来源不明" in r.text
    # the sign-in form too: without its token nobody signs in, even with the right password
    anonymous = console_client(backend)
    r = await anonymous.post("/console/login", data={"username": P, "password": "yixiang-demo"})
    assert r.status_code == 403
    api = await client.get(f"/api/v1/bookings/{booking_id}", headers=s.headers[P])
    assert api.json()["status"] == "requested"


async def test_the_provider_approves_checks_in_and_completes_from_the_pages(backend, client, login):
    s = Scene(backend, client, login)
    s.headers = {P: await login(P), R1: await login(R1)}
    s.approval = await make_instrument(backend)
    await set_calendar(client, s.headers[P], s.approval.instrument_id, needs_approval=True)
    booking_id = await s.requested()
    number = (await client.get(f"/api/v1/bookings/{booking_id}", headers=s.headers[P])).json()["number"]
    provider = await signed_in(backend, P)

    waiting = await provider.get("/console/bookings?when=all&status=requested")
    assert number in waiting.text and "审批通过" in waiting.text
    r = await post_form(provider, "/console/bookings?when=all", f"/console/bookings/{booking_id}/approve")
    assert r.status_code == 303
    shown = await provider.get(r.headers["location"])
    assert f"预约 {number}：审批通过，当前状态「已确认」" in shown.text
    assert (await client.get(f"/api/v1/bookings/{booking_id}", headers=s.headers[P])).json()[
        "status"
    ] == "confirmed"

    # approving again is the service's refusal, shown on the page in its words
    r = await post_form(
        provider, f"/console/bookings/{booking_id}", f"/console/bookings/{booking_id}/approve"
    )
    assert "不能审批通过" in (await provider.get(r.headers["location"])).text

    await booked_for_the_past(backend, booking_id, utcnow())
    r = await post_form(
        provider, f"/console/bookings/{booking_id}", f"/console/bookings/{booking_id}/check-in"
    )
    assert "当前状态「服务中」" in (await provider.get(r.headers["location"])).text
    page = await provider.get(f"/console/bookings/{booking_id}")
    assert 'name="actual_start"' in page.text  # the completion form, now that the user is in
    # Actual use is Shanghai wall time on the form; the service's rules judge it. An hour that
    # has passed (a test cannot wait for its slot to end).
    start = await s.used_in_the_past(booking_id)
    wall = start.astimezone(SHANGHAI)
    form = {"_csrf": csrf_of(page), "actual_start": f"{wall:%Y-%m-%dT%H:%M}"}
    r = await provider.post(
        f"/console/bookings/{booking_id}/complete",
        data={**form, "actual_end": f"{wall - timedelta(minutes=5):%Y-%m-%dT%H:%M}"},
    )
    refused = await provider.get(r.headers["location"])
    assert "flash error" in refused.text  # ends before it starts: the service's rule, in its words
    r = await provider.post(
        f"/console/bookings/{booking_id}/complete",
        data={**form, "actual_end": f"{wall + timedelta(minutes=45):%Y-%m-%dT%H:%M}"},
    )
    assert "当前状态「已完成」" in (await provider.get(r.headers["location"])).text
    api = (await client.get(f"/api/v1/bookings/{booking_id}", headers=s.headers[P])).json()
    assert api["status"] == "completed"
    assert api["actual_start"] == iso(start.astimezone(SHANGHAI))
    assert api["actual_end"] == iso((start + timedelta(minutes=45)).astimezone(SHANGHAI))


async def test_a_page_for_another_role_is_403_as_the_api_is_and_shows_no_data(backend, client, login):
    finance = await signed_in(backend, FB)
    r = await finance.get("/console/bookings?when=all")
    assert r.status_code == 403 and "没有权限" in r.text and "预约号" not in r.text
    api = await client.get(f"/api/v1/bookings?unit={ZJLG}", headers=await login(FB))
    assert api.status_code == 403
    provider = await signed_in(backend, P)
    r = await provider.get("/console/settlements")
    assert r.status_code == 403 and "兑付金额" not in r.text
    assert (await client.get(SETTLEMENTS, headers=await login(P))).status_code == 403
    # the menu offers each its own pages only
    assert "/console/settlements" not in (await provider.get("/console")).text
    assert "/console/bookings" not in (await finance.get("/console")).text
    researcher = await signed_in(backend, R1)
    assert (await researcher.get("/console")).status_code == 403


async def test_another_units_booking_is_404_on_its_page_and_its_action(backend, client, login):
    s = Scene(backend, client, login)
    s.headers = {P: await login(P), R1: await login(R1)}
    s.world = await make_instrument(backend)
    await set_calendar(client, s.headers[P], s.world.instrument_id)
    booking_id = await s.booking(R1)
    stranger = await make_user(backend, demo_id("unit-hzcl"), Role.provider_staff)
    async with backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(User).where(User.username == stranger).values(password_hash=hash_password("pw-hzcl-1"))
        )
    other = await signed_in(backend, stranger, "pw-hzcl-1")
    assert (await other.get(f"/console/bookings/{booking_id}")).status_code == 404
    r = await post_form(other, "/console/bookings?when=all", f"/console/bookings/{booking_id}/no-show")
    assert r.status_code == 404
    assert (await client.get(f"/api/v1/bookings/{booking_id}", headers=s.headers[P])).json()[
        "status"
    ] == "confirmed"


async def test_signing_out_ends_the_session_for_its_cookie_too(backend):
    provider = await signed_in(backend, UA)
    cookie = provider.cookies.get("yixiang_console")
    r = await post_form(provider, "/console", "/console/logout")
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    replay = console_client(backend)
    replay.cookies.set("yixiang_console", cookie, domain="testserver", path="/console")
    assert (await replay.get("/console")).status_code == 303  # the old cookie signs nobody in


async def test_the_bookings_table_pages_sorts_filters_and_downloads(backend, client, login):
    s = Scene(backend, client, login)
    s.headers = {P: await login(P), R1: await login(R1)}
    s.world = await make_instrument(backend)
    await set_calendar(client, s.headers[P], s.world.instrument_id)
    for _ in range(3):
        await s.booking(R1)
    provider = await signed_in(backend, P)
    first = await provider.get("/console/bookings?when=all&sort=number&dir=asc&per_page=2")
    second = await provider.get("/console/bookings?when=all&sort=number&dir=asc&per_page=2&page=2")

    def numbers(page: Any) -> list[str]:
        return re.findall(r">(YX\d{8}-[0-9A-F]{6})<", page.text)

    assert len(numbers(first)) == 2 and len(numbers(second)) == 2
    assert numbers(first) == sorted(numbers(first)) and numbers(first)[-1] < numbers(second)[0]
    assert "下一页" in first.text and "sort=number" in first.text
    descending = await provider.get("/console/bookings?when=all&sort=number&dir=desc&per_page=2")
    assert numbers(descending)[0] > numbers(second)[-1]
    cancelled = await provider.get("/console/bookings?when=all&status=cancelled")
    assert not set(numbers(cancelled)) & set(numbers(first))

    csv = await provider.get("/console/bookings?when=all&status=confirmed&format=csv")
    assert csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    assert text.startswith("预约号,仪器,预约单位") and "已确认" in text and "已取消" not in text
    xlsx = await provider.get("/console/bookings?when=all&status=confirmed&format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.cell(1, 1).value == "预约号" and sheet.max_row == text.count("\n")


async def test_finance_draws_reviews_and_a_second_officer_approves_pays_and_reconciles(
    backend, client, login
):
    s = await voucher_world(backend, client, login)
    booking_id = await s.fully_evidenced()
    number = (await client.get(f"/api/v1/bookings/{booking_id}", headers=s.headers[P])).json()["number"]
    first, second = await signed_in(backend, SB), await signed_in(backend, FB)
    period = s.period()
    r = await post_form(first, "/console/settlements", "/console/settlements", **period)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/settlements/")
    batch_page = r.headers["location"]
    batch_id = batch_page.rsplit("/", 1)[1]
    review = await first.get(batch_page)
    assert "草稿" in review.text and number in review.text
    assert f"/console/statements/{booking_id}" in review.text  # the evidence chain, one click away
    chain = await first.get(f"/console/statements/{booking_id}")
    assert chain.status_code == 200 and "凭证链（完整）" in chain.text and "企业付款" in chain.text

    r = await post_form(first, batch_page, f"{batch_page}/submit")
    submitted = await first.get(r.headers["location"])
    assert "已提交" in submitted.text and "四眼原则" in submitted.text
    assert f"{batch_page}/approve" not in submitted.text  # not offered to the submitter
    r = await first.post(f"{batch_page}/approve", data={"_csrf": csrf_of(submitted)})
    assert "提交人不能审核自己提交的兑付批次" in (await first.get(r.headers["location"])).text
    api = await client.get(f"{SETTLEMENTS}/{batch_id}", headers=s.headers[FB])
    assert api.json()["status"] == "submitted"  # the submitter's own approval was refused

    r = await post_form(second, batch_page, f"{batch_page}/approve")
    assert "已审核通过" in (await second.get(r.headers["location"])).text
    xlsx = await second.get(f"{batch_page}/export?format=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert any(number in str(c.value) for row in sheet.iter_rows() for c in row)
    r = await post_form(second, batch_page, f"{batch_page}/mark-paid", bank_reference="ICBC-CONSOLE-1")
    paid = await second.get(r.headers["location"])
    assert "已付款" in paid.text and "ICBC-CONSOLE-1" in paid.text and "（一致）" in paid.text
    r = await post_form(second, batch_page, f"{batch_page}/reconcile")
    assert "已对账" in (await second.get(r.headers["location"])).text
    api = await client.get(f"{SETTLEMENTS}/{batch_id}", headers=s.headers[FB])
    assert api.json()["status"] == "reconciled" and api.json()["bank_reference"] == "ICBC-CONSOLE-1"
