"""Admission control: past its capacity a process answers the excess 503 with Retry-After at once,
serves bot and payment callbacks before pages, and is back to normal as soon as the load drops."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import msgspec
import pytest

from tests.live_server import live_server
from tests.support import BACKENDS, error_code
from yixiang.admission import Gate, Priority, is_transfer, priority_of

SEARCH = "/api/v1/instruments/search?q=%E6%A0%B8%E7%A3%81"


@contextmanager
def tight(gate: Gate, in_flight: int, queued: int, wait_seconds: float) -> Iterator[Gate]:
    saved = gate.max_in_flight, gate.max_queued, gate.max_wait, gate.running_seconds
    # running_seconds 0: no arrival is refused for its expected wait (tested on a Gate of its own)
    gate.max_in_flight, gate.max_queued, gate.max_wait, gate.running_seconds = (
        in_flight,
        queued,
        wait_seconds,
        0.0,
    )
    try:
        yield gate
    finally:
        gate.max_in_flight, gate.max_queued, gate.max_wait, gate.running_seconds = saved


def shed_count(metrics_text: str, priority: str, reason: str, gate: str = "requests") -> float:
    labels = f'gate="{gate}",priority="{priority}",reason="{reason}"'
    pattern = rf"yixiang_http_shed_total\{{{labels}\}} ([0-9.e+]+)"
    found = re.search(pattern, metrics_text)
    return float(found.group(1)) if found else 0.0


def test_priorities_by_route():
    assert priority_of("POST", "/wechat/official-account") is Priority.urgent
    assert priority_of("POST", "/api/v1/wechatpay/notifications") is Priority.urgent
    assert priority_of("POST", "/api/v1/oversight/readings") is Priority.urgent
    assert priority_of("POST", "/api/v1/bookings") is Priority.write
    assert priority_of("GET", "/api/v1/instruments/search") is Priority.read
    assert priority_of("GET", "/health") is None
    assert priority_of("GET", "/metrics") is None


def test_transfers_by_route():
    booking = "/api/v1/bookings/5d1f0a9e-3c1b-4a4e-9f57-0e6f3b1c2d4a"
    assert is_transfer("POST", f"{booking}/results")  # result files uploaded
    assert not is_transfer("GET", f"{booking}/results")  # their list, with links
    assert is_transfer("GET", "/api/v1/results/5d1f0a9e-3c1b-4a4e-9f57-0e6f3b1c2d4a/download")
    assert is_transfer("GET", "/api/v1/provider/instruments/export")
    assert is_transfer("POST", "/api/v1/provider/instruments/import")
    assert is_transfer("GET", "/console/jobs/5d1f0a9e-3c1b-4a4e-9f57-0e6f3b1c2d4a/file/")
    assert is_transfer("POST", f"/console{booking.removeprefix('/api/v1')}/results")
    assert not is_transfer("GET", "/api/v1/instruments/search")
    assert not is_transfer("POST", "/api/v1/bookings")


async def test_transfers_and_requests_hold_each_others_slots_never(backend, login):
    """Long transfers have their own few slots: while they are all taken (a few slow uploads) the
    pages are served, and while every page slot is taken an export still goes out."""
    provider = await login("demo-provider")
    export = "/api/v1/provider/instruments/export?format=csv"
    gate: Gate = backend.app.state.gate
    transfers: Gate = backend.app.state.transfers_gate
    with tight(transfers, in_flight=1, queued=0, wait_seconds=5):
        assert await transfers.enter(Priority.write)  # a slow upload holds the one transfer slot
        try:
            assert (await backend.client.get(SEARCH)).status_code == 200
            refused = await backend.client.get(export, headers=provider)
            assert refused.status_code == 503 and error_code(refused) == "overloaded"
        finally:
            transfers.leave()
    with tight(gate, in_flight=1, queued=0, wait_seconds=5):
        assert await gate.enter(Priority.read)  # every page slot taken
        try:
            assert (await backend.client.get(SEARCH)).status_code == 503
            exported = await backend.client.get(export, headers=provider)
            assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        finally:
            gate.leave()
    metrics = (await backend.client.get("/metrics")).text
    assert shed_count(metrics, "read", "queue_full", gate="transfers") >= 1
    assert 'yixiang_http_in_flight{gate="transfers"} 0.0' in metrics


async def test_a_busy_process_refuses_at_once_with_retry_after_and_serves_again_when_free(backend):
    gate: Gate = backend.app.state.gate
    with tight(gate, in_flight=1, queued=0, wait_seconds=5):
        assert await gate.enter(Priority.read)  # the one slot, taken
        try:
            refused = await backend.client.get(SEARCH)
            assert refused.status_code == 503
            assert error_code(refused) == "overloaded"
            assert refused.json()["error"]["message"] == "服务繁忙，请稍后再试"
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["x-request-id"]
            # the orchestrator still sees a live, ready process
            assert (await backend.client.get("/health")).status_code == 200
            assert (await backend.client.get("/ready")).status_code == 200
            metrics = (await backend.client.get("/metrics")).text
            assert shed_count(metrics, "read", "queue_full") >= 1
            assert 'yixiang_http_in_flight{gate="requests"} 1.0' in metrics
        finally:
            gate.leave()
        assert (await backend.client.get(SEARCH)).status_code == 200


async def test_a_waiting_request_runs_when_a_slot_frees_and_gives_up_after_the_wait(backend):
    gate: Gate = backend.app.state.gate
    with tight(gate, in_flight=1, queued=4, wait_seconds=0.3):
        assert await gate.enter(Priority.read)
        try:
            waiting = asyncio.create_task(backend.client.get(SEARCH))
            await asyncio.sleep(0.05)
            assert gate.queued == 1
        finally:
            gate.leave()  # the slot frees while it waits: it runs
        assert (await waiting).status_code == 200

        assert await gate.enter(Priority.read)
        try:
            gave_up = await backend.client.get(SEARCH)  # nobody frees the slot within 0.3 s
        finally:
            gate.leave()
        assert gave_up.status_code == 503
        assert gate.queued == 0 and gate.in_flight == 0


async def test_a_bot_callback_displaces_a_waiting_page_and_goes_first(backend):
    gate: Gate = backend.app.state.gate
    with tight(gate, in_flight=1, queued=1, wait_seconds=5):
        assert await gate.enter(Priority.read)
        released = False
        try:
            page = asyncio.create_task(backend.client.get(SEARCH))
            await asyncio.sleep(0.05)
            # the queue is full with the page; the WeChat server's callback takes its place
            callback = asyncio.create_task(
                backend.client.post(
                    "/wechat/official-account?signature=x&timestamp=1&nonce=n", content=b"<x/>"
                )
            )
            displaced = await page
            assert displaced.status_code == 503
            assert error_code(displaced) == "overloaded"
            assert not callback.done()
            gate.leave()
            released = True
            answered = await callback
            assert answered.status_code != 503  # it ran (and was refused for its bad signature)
        finally:
            if not released:
                gate.leave()
    metrics = (await backend.client.get("/metrics")).text
    assert shed_count(metrics, "read", "displaced") >= 1


async def test_gate_serves_waiters_by_priority_then_arrival():
    gate = Gate(max_in_flight=1, max_queued=10, max_wait_seconds=5)
    assert await gate.enter(Priority.read)
    order: list[str] = []

    async def wait(name: str, priority: Priority) -> None:
        assert await gate.enter(priority)
        order.append(name)
        await asyncio.sleep(0)
        gate.leave()

    tasks = []
    arrivals = [("read1", Priority.read), ("write1", Priority.write), ("urgent1", Priority.urgent)]
    for name, priority in arrivals:
        tasks.append(asyncio.create_task(wait(name, priority)))
        await asyncio.sleep(0.01)
    tasks.append(asyncio.create_task(wait("read2", Priority.read)))
    await asyncio.sleep(0.01)
    gate.leave()
    await asyncio.gather(*tasks)
    assert order == ["urgent1", "write1", "read1", "read2"]
    assert gate.in_flight == 0 and gate.queued == 0


async def test_an_arrival_that_would_wait_too_long_is_refused_on_arrival_not_after_waiting():
    gate = Gate(max_in_flight=2, max_queued=100, max_wait_seconds=0.45)
    for _ in range(200):  # requests lately ran 0.2 s each: two slots serve one per 0.1 s
        assert await gate.enter(Priority.read)
        gate.leave(ran_seconds=0.2)
    assert gate.running_seconds == pytest.approx(0.2, rel=0.01)  # (each sample capped at 0.45 s)
    assert await gate.enter(Priority.read) and await gate.enter(Priority.read)  # both slots taken
    waiting = [asyncio.create_task(gate.enter(Priority.read)) for _ in range(4)]
    await asyncio.sleep(0)
    assert gate.queued == 4  # each expects 0.1–0.4 s: they wait
    late = asyncio.create_task(gate.enter(Priority.read))
    await asyncio.sleep(0)  # one turn of the loop: answered without waiting for anything
    assert late.done() and late.result() is False  # 0.5 s expected: refused now, not in 0.45 s
    assert gate.shed == {(Priority.read, "expected_wait"): 1}
    urgent = asyncio.create_task(gate.enter(Priority.urgent))
    await asyncio.sleep(0)
    assert not urgent.done()  # a bot callback waits behind nobody: it is queued, first in line
    gate.leave()
    assert await urgent
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)


async def test_a_waiter_whose_client_left_hands_its_slot_on():
    gate = Gate(max_in_flight=1, max_queued=10, max_wait_seconds=5)
    assert await gate.enter(Priority.read)
    gone = asyncio.create_task(gate.enter(Priority.read))
    await asyncio.sleep(0.01)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    gate.leave()
    assert gate.in_flight == 0 and gate.queued == 0
    assert await gate.enter(Priority.read)


@pytest.mark.slow
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_a_burst_far_past_capacity_is_answered_or_refused_never_left_hanging(tmp_path, backend_name):
    """A real server with small limits and 400 simultaneous searches: every request gets an
    answer (200, or 503 with Retry-After), none times out, and right after the burst a request
    is served as if nothing had happened."""
    env: dict[str, Any] = {
        "YIXIANG_ADMISSION_MAX_IN_FLIGHT": "4",
        "YIXIANG_ADMISSION_MAX_QUEUED": "8",
        "YIXIANG_ADMISSION_MAX_WAIT_MS": "300",
    }
    with live_server(tmp_path, backend_name, **env) as server:

        async def burst() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
            async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30) as client:
                return await asyncio.gather(*(client.get(SEARCH) for _ in range(400)))

        answers = asyncio.run(burst())
        statuses = {a.status_code for a in answers}
        assert statuses <= {200, 503}, statuses
        refused = [a for a in answers if a.status_code == 503]
        assert refused, "400 requests at once past 4 running and 8 waiting: some must be refused"
        assert any(a.status_code == 200 for a in answers)
        assert all(a.headers["retry-after"] == "1" and error_code(a) == "overloaded" for a in refused)
        after = httpx.get(server.base_url + SEARCH, timeout=10)
        assert after.status_code == 200
        metrics = httpx.get(server.base_url + "/metrics", timeout=10).text
        reasons = ("queue_full", "waited_too_long", "expected_wait")
        assert sum(shed_count(metrics, "read", reason) for reason in reasons) == len(refused)


async def test_metrics_answer_only_the_token_bearer_and_are_absent_in_production_without_one(backend):
    settings = backend.app.state.settings
    try:
        backend.app.state.settings = msgspec.structs.replace(
            settings, metrics_token="s3cret-token-for-prometheus"
        )
        assert (await backend.client.get("/metrics")).status_code == 401
        wrong = await backend.client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        scraped = await backend.client.get(
            "/metrics", headers={"Authorization": "Bearer s3cret-token-for-prometheus"}
        )
        assert scraped.status_code == 200
        # the two refused scrapes are counted by route template and status
        assert 'yixiang_http_requests_total{method="GET",route="/metrics",status="401"}' in scraped.text
        backend.app.state.settings = msgspec.structs.replace(settings, profile="production", metrics_token="")
        assert (await backend.client.get("/metrics")).status_code == 404
    finally:
        backend.app.state.settings = settings
