"""The platform operator's desk: a dead outbox event put back and then handled by the worker; a
done one not retried; users found by name and role; a user signed out everywhere (their API token
and console session end)."""

from __future__ import annotations

import msgspec

from accounts.demo import demo_id
from tests.attack.test_authz_matrix import PA, R1, UA
from tests.console.desk import csrf_of, post_form, signed_in
from tests.console.test_page_matrix import dead_event
from yixiang.outbox import EventStatus, OutboxEvent
from yixiang.worker import Worker


async def status_of(backend, event_id: int) -> tuple[EventStatus, int]:
    async with backend.runtime.session_maker() as session:
        event = await session.get(OutboxEvent, event_id)
        assert event is not None
        return event.status, event.attempts


async def test_a_dead_event_is_put_back_and_the_worker_handles_it(backend):
    event_id = await dead_event(backend)
    operator = await signed_in(backend, PA)
    page = await operator.get("/console/outbox?status=dead&topic=test.console_matrix&per_page=200")
    assert f"/console/outbox/{event_id}/retry" in page.text
    r = await operator.post(f"/console/outbox/{event_id}/retry", data={"_csrf": csrf_of(page)})
    assert f"事件 {event_id} 已重新排队" in (await operator.get(r.headers["location"])).text
    assert await status_of(backend, event_id) == (EventStatus.pending, 0)
    worker = Worker(
        backend.runtime.session_maker,
        backend.runtime.domains,
        settings=msgspec.structs.replace(backend.settings),
        only_topics={"test.console_matrix"},
    )
    await worker.drain()
    assert (await status_of(backend, event_id))[0] == EventStatus.done
    r = await operator.post(f"/console/outbox/{event_id}/retry", data={"_csrf": csrf_of(page)})
    assert "只有已放弃的事件可以重试" in (await operator.get(r.headers["location"])).text
    assert (await status_of(backend, event_id))[0] == EventStatus.done


async def test_users_are_found_by_name_and_role_and_signed_out_everywhere(backend, client, login):
    operator = await signed_in(backend, PA)
    staff = await operator.get("/console/users?role=unit_admin&per_page=200")
    assert UA in staff.text and R1 not in staff.text and "管理单位管理员" in staff.text
    found = await operator.get(f"/console/users?q={R1}")
    assert R1 in found.text and UA not in found.text

    token = await login(UA)
    unit_admin = await signed_in(backend, UA)
    assert (await client.get("/api/v1/me", headers=token)).status_code == 200
    r = await post_form(operator, f"/console/users?q={UA}", f"/console/users/{demo_id(UA)}/sign-out")
    assert "该用户的所有登录已失效" in (await operator.get(r.headers["location"])).text
    assert (await client.get("/api/v1/me", headers=token)).status_code == 401
    assert (await unit_admin.get("/console")).status_code == 303  # to the sign-in form
    assert (await operator.get("/console")).status_code == 200  # the operator's own session stays


async def test_the_operator_sets_and_clears_a_working_day_as_the_api_shows(backend, client, login):
    operator, admin = await signed_in(backend, PA), await login(PA)
    r = await post_form(
        operator,
        "/console/working-days?year=2098",
        "/console/working-days",
        day="2098-10-08",
        kind="working",
        name="国庆调休",
    )
    assert r.headers["location"] == "/console/working-days?year=2098"
    assert "2098-10-08 已设为工作日（调休上班）" in (await operator.get(r.headers["location"])).text
    api = (await client.get("/api/v1/admin/working-days?year=2098", headers=admin)).json()
    assert [(d["day"], d["is_working_day"], d["name"]) for d in api] == [("2098-10-08", True, "国庆调休")]
    r = await post_form(
        operator, "/console/working-days", "/console/working-days", day="2098-10-08", kind="clear"
    )
    assert "恢复为内置日历" in (await operator.get(r.headers["location"])).text
    assert (await client.get("/api/v1/admin/working-days?year=2098", headers=admin)).json() == []
    r = await post_form(
        operator, "/console/working-days", "/console/working-days", day="2098-13-01", kind="holiday"
    )
    assert "日期格式有误" in (await operator.get(r.headers["location"])).text
