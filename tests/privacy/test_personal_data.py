"""Personal data (PIPL), end to end: a researcher downloads everything the platform holds about
them, asks for erasure (refused while a bill is unpaid), and is told what was kept and why; the
financial records stay and add up, pseudonymised; everything else about them is gone; nobody can
read or erase anyone else's data; the phone page does the same."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import func, select

from accounts.models import Membership, Role, User
from booking.models import Booking
from privacy.models import PersonalDataErasure
from ratings.models import Rating
from tests.attack.test_authz_matrix import PNG
from tests.booking.world import make_instrument
from tests.console.desk import csrf_of, signed_in
from tests.results.flow import upload
from tests.support import error_code
from tests.vouchers.desk import new_org, new_user

PROVIDER = "demo-provider"


def samples(world, count: int = 2) -> dict[str, object]:
    return {
        "instrument_id": str(world.instrument_id),
        "mode": "sample_testing",
        "service_item_id": str(world.sample_item_id),
        "samples": count,
        "note": "联系人张三 13800000000",
    }


async def test_a_researcher_downloads_then_erases_their_data_and_is_told_what_stays(backend, client, login):
    world = await make_instrument(backend)
    firm = await new_org(backend)
    username = await new_user(backend, firm, Role.researcher)
    me, provider = await login(username), await login(PROVIDER)
    other = await login("demo-researcher")

    # a booking served, delivered and rated (money: the fee is the firm's bill) ...
    served = (await client.post("/api/v1/bookings", json=samples(world), headers=me)).json()
    assert served["status"] == "confirmed", served
    sid = served["id"]
    assert (await client.post(f"/api/v1/bookings/{sid}/check-in", headers=provider)).status_code == 200
    done = await client.post(f"/api/v1/bookings/{sid}/complete", json={"samples": 2}, headers=provider)
    assert done.status_code == 200, done.text
    assert (await upload(client, provider, sid, [("谱图.png", PNG)])).status_code == 201
    rated = await client.post(
        f"/api/v1/bookings/{sid}/rating", json={"overall": 4, "comment": "张三：数据很好"}, headers=me
    )
    assert rated.status_code == 201, rated.text
    # ... and one cancelled at once (nothing owed, no voucher held: no money in it)
    dropped = (await client.post("/api/v1/bookings", json=samples(world, 1), headers=me)).json()
    assert (await client.post(f"/api/v1/bookings/{dropped['id']}/cancel", headers=me)).status_code == 200
    await client.post("/api/v1/me/notification-consent", json={"given": False}, headers=me)

    export = await client.get("/api/v1/me/personal-data", headers=me)
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    data = export.json()
    assert data["account"]["username"] == username
    assert {b["number"] for b in data["bookings"]} == {served["number"], dropped["number"]}
    assert data["ratings"][0]["comment"] == "张三：数据很好"
    assert data["result_files"][0]["name"] == "谱图.png"
    assert data["notification_consent"]["given"] is False
    assert [m["role"] for m in data["memberships"]] == ["researcher"]
    # only my own: the other researcher's export has none of this
    theirs = (await client.get("/api/v1/me/personal-data", headers=other)).json()
    assert served["number"] not in {b["number"] for b in theirs["bookings"]}

    # the bill is unpaid: erasure waits (the firm still owes it)
    refused = await client.post("/api/v1/me/personal-data/erasure", json={"confirm": True}, headers=me)
    assert refused.status_code == 409 and error_code(refused) == "personal_data_in_use"
    paid = await client.post(
        f"/api/v1/bookings/{sid}/payment-received", json={"reference": "对公"}, headers=provider
    )
    assert paid.status_code == 200, paid.text
    unconfirmed = await client.post("/api/v1/me/personal-data/erasure", json={"confirm": False}, headers=me)
    assert unconfirmed.status_code == 400 and error_code(unconfirmed) == "erasure_not_confirmed"

    erased = await client.post("/api/v1/me/personal-data/erasure", json={"confirm": True}, headers=me)
    assert erased.status_code == 200, erased.text
    answer = erased.json()
    kept = {k["what"]: k for k in answer["kept"]}
    assert kept["预约记录"]["count"] == 1 and "会计" in kept["预约记录"]["why"]
    assert "评价分数" in kept and "账号" in kept
    deleted = {d["what"]: d["count"] for d in answer["deleted"]}
    assert deleted["未产生费用的预约（已取消、被拒绝或审批超时）"] == 1
    assert deleted["所属企业与角色"] == 1 and deleted["评价文字"] == 1 and deleted["预约备注"] == 1

    # signed out everywhere, and the name is gone; the kept records still add up
    assert (await client.get("/api/v1/me", headers=me)).status_code == 401
    async with backend.runtime.session_maker() as session:
        user = await session.scalar(select(User).where(User.username == username))
        assert user is None
        booking = await session.get(Booking, uuid.UUID(sid))
        assert booking is not None and booking.note == "" and booking.final_fee_fen == 10_000
        gone = await session.get(Booking, uuid.UUID(dropped["id"]))
        assert gone is None
        rating = await session.scalar(select(Rating).where(Rating.booking_id == booking.id))
        assert rating is not None and rating.overall == 4 and rating.comment == ""
        erased_user = await session.get(User, booking.user_id)
        assert (
            erased_user is not None and erased_user.display_name == "已注销用户" and not erased_user.is_active
        )
        assert not await session.scalar(select(func.count()).where(Membership.user_id == booking.user_id))
        record = await session.scalar(
            select(PersonalDataErasure).where(PersonalDataErasure.user_id == booking.user_id)
        )
        assert record is not None and record.kept["items"] == answer["kept"]
    statement = await client.get(f"/api/v1/bookings/{sid}/statement", headers=provider)
    assert statement.status_code == 200 and statement.json()["paid_fen"] == 10_000


async def test_erasure_on_the_phone_page_says_what_was_kept(backend, client, login):
    firm = await new_org(backend)
    username = await new_user(backend, firm, Role.researcher)
    async with backend.runtime.session_maker() as session, session.begin():
        user = await session.scalar(select(User).where(User.username == username))
        assert user is not None
        from accounts.auth import hash_password
        from accounts.demo import DEMO_PASSWORD

        user.password_hash = hash_password(DEMO_PASSWORD)
    phone = await signed_in(backend, username)
    page = await phone.get("/console/m/me")
    assert page.status_code == 200 and "下载我的数据" in page.text
    download = await phone.get("/console/m/me/personal-data")
    assert download.status_code == 200 and download.json()["account"]["username"] == username
    consent = re.search(r'name="idem" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    withdrawn = await phone.post(
        "/console/m/me/consent", data={"_csrf": csrf_of(page), "idem": consent, "given": "false"}
    )
    assert withdrawn.status_code == 303
    assert "已撤回授权" in (await phone.get("/console/m/me")).text
    done = await phone.post("/console/m/me/erasure", data={"_csrf": csrf_of(page), "confirm": "yes"})
    assert done.status_code == 200, done.text
    assert "个人信息已删除" in done.text and "依法保留" in done.text and "通知授权记录" in done.text
    after = await phone.get("/console/m/me")
    assert after.status_code == 303 and after.headers["location"].startswith("/console/login")
