"""Admission control: past its capacity a process refuses the excess at once instead of queueing it.

A process runs at most ``max_in_flight`` requests at a time. Beyond that a request waits in a
bounded queue for at most ``max_wait``; when the queue is full, or the wait runs out, it is
answered 503 with ``Retry-After`` straight away. A request that would only wait to be refused
is refused on arrival: with the waiters ahead of it and the time requests have lately taken to
run, its expected wait already exceeds ``max_wait``. So under overload the refusals are
immediate, not ``max_wait`` late, and the queue holds only requests it will serve in time.
Without this, an overloaded process accepts everything and answers everything late (seconds,
then timeouts) — the worst thing a service can do. With it, what is accepted is answered in
time and the rest learns at once to come back.

Waiters are served by priority, then by arrival: the bot's webhook and the payment and sensor
notifications (a WeChat server retries, a reading is lost, money is waiting) before writes by
people (bookings, approvals), before reads (search pages, details, console pages). A full queue
makes room for an arrival by refusing its lowest-priority, newest waiter, never an older
waiter of higher or equal priority. Health and metrics are never held back: an orchestrator
that cannot reach them restarts a process that is only busy.

Transfers — result files uploaded or downloaded, exports and imports of spreadsheets — pass a
gate of their own. Their time is set by the client's bandwidth and the file's size (a 200 MB
result over a slow line takes minutes), not by this process's CPU: counted with the others, a
few of them would hold every slot of a gate sized for short requests, and the pages would be
refused while the process idles.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec
from litestar.enums import ScopeType

from yixiang.errors import error_body

if TYPE_CHECKING:
    from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send


class Priority(enum.IntEnum):
    urgent = 0  # callbacks from machines that retry or lose data: bot webhook, payments, sensors
    write = 1  # a person's change: booking, approval, payment order
    read = 2  # a page or a search


UNGATED = ("/health", "/ready", "/metrics")
URGENT = ("/wechat/", "/api/v1/wechatpay/notifications", "/api/v1/oversight/readings")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

OVERLOADED_MESSAGE = "服务繁忙，请稍后再试"


# (method, how the path ends): result uploads, result downloads and job files, exports, imports
TRANSFERS = frozenset(
    {
        ("POST", "/results"),
        ("GET", "/download"),
        ("GET", "/file"),
        ("GET", "/export"),
        ("POST", "/import"),
    }
)


def priority_of(method: str, path: str) -> Priority | None:
    """The request's priority, or None for the routes that are never held back."""
    if path.startswith(UNGATED):
        return None
    if path.startswith(URGENT):
        return Priority.urgent
    return Priority.read if method in SAFE_METHODS else Priority.write


def is_transfer(method: str, path: str) -> bool:
    """A request whose time is the file's to stream, in or out: it passes the transfers' gate."""
    path = path.rstrip("/")
    return (method, path[path.rfind("/") :]) in TRANSFERS


# Weight of the latest request's running time in the moving average the expected wait uses.
SMOOTHING = 0.05


@dataclass
class Waiter:
    priority: Priority
    admitted: asyncio.Future[bool]
    since: float = field(default_factory=time.perf_counter)


class Gate:
    """The counting part, without HTTP: who runs, who waits, who is refused."""

    def __init__(
        self, max_in_flight: int, max_queued: int, max_wait_seconds: float, name: str = "requests"
    ) -> None:
        self.name = name
        self.max_in_flight = max_in_flight
        self.max_queued = max_queued
        self.max_wait = max_wait_seconds
        self.in_flight = 0
        self.running_seconds = 0.0  # moving average of how long an admitted request runs
        self.queues: dict[Priority, deque[Waiter]] = {p: deque() for p in Priority}
        self.shed: dict[tuple[Priority, str], int] = {}

    @property
    def queued(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def _refuse(self, priority: Priority, reason: str) -> None:
        self.shed[priority, reason] = self.shed.get((priority, reason), 0) + 1

    def _waiting_ahead(self, priority: Priority) -> bool:
        return any(self.queues[p] for p in Priority if p <= priority)

    def expected_wait(self, priority: Priority) -> float:
        """Seconds a request of ``priority`` arriving now should wait: the waiters it would queue
        behind (its priority or higher), with itself, served ``max_in_flight`` at a time."""
        ahead = sum(len(self.queues[p]) for p in Priority if p <= priority)
        return (ahead + 1) * self.running_seconds / self.max_in_flight

    def _evict_below(self, priority: Priority) -> bool:
        """Refuse the newest waiter of the lowest priority below ``priority``, if there is one."""
        for p in sorted(Priority, reverse=True):
            if p <= priority:
                return False
            if self.queues[p]:
                waiter = self.queues[p].pop()
                if not waiter.admitted.done():
                    waiter.admitted.set_result(False)
                self._refuse(p, "displaced")
                return True
        return False

    async def enter(self, priority: Priority) -> bool:
        """True once the request may run (the caller then calls :meth:`leave`); False: refuse it."""
        if self.in_flight < self.max_in_flight and not self._waiting_ahead(priority):
            self.in_flight += 1
            return True
        if self.expected_wait(priority) > self.max_wait:
            self._refuse(priority, "expected_wait")
            return False
        if self.queued >= self.max_queued and not self._evict_below(priority):
            self._refuse(priority, "queue_full")
            return False
        waiter = Waiter(priority, asyncio.get_running_loop().create_future())
        self.queues[priority].append(waiter)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.admitted), self.max_wait)
        except TimeoutError:
            if waiter.admitted.done():  # admitted, or displaced, in the instant it ran out
                return waiter.admitted.result()
            self.queues[priority].remove(waiter)
            waiter.admitted.set_result(False)
            self._refuse(priority, "waited_too_long")
            return False
        except asyncio.CancelledError:  # the client went away while waiting
            if waiter in self.queues[priority]:
                self.queues[priority].remove(waiter)
            elif waiter.admitted.done() and waiter.admitted.result():
                self.leave()  # it was handed a slot it will not use: hand it on
            raise

    def leave(self, ran_seconds: float | None = None) -> None:
        """A request that ran is done (``ran_seconds``: for how long, from its admission)."""
        self.in_flight -= 1
        if ran_seconds is not None:
            # capped: one long upload or download must not make every arrival look too late
            sample = min(ran_seconds, self.max_wait)
            self.running_seconds += SMOOTHING * (sample - self.running_seconds)
        for priority in Priority:
            queue = self.queues[priority]
            while queue:
                waiter = queue.popleft()
                if not waiter.admitted.done():
                    self.in_flight += 1
                    waiter.admitted.set_result(True)
                    return


class AdmissionMiddleware:
    """ASGI: every HTTP request passes its :class:`Gate` before the application sees it —
    ``transfers`` for the routes :func:`is_transfer` names, ``gate`` for all others."""

    def __init__(self, app: ASGIApp, gate: Gate, transfers: Gate, retry_after_seconds: int = 1) -> None:
        self.app = app
        self.gate = gate
        self.transfers = transfers
        self.refusal = msgspec.json.encode(error_body("overloaded", OVERLOADED_MESSAGE))
        self.headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(self.refusal)).encode()),
            (b"retry-after", str(retry_after_seconds).encode()),
            (b"cache-control", b"no-store"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        priority = priority_of(method, path)
        if priority is None:
            await self.app(scope, receive, send)
            return
        gate = self.transfers if is_transfer(method, path) else self.gate
        if not await gate.enter(priority):
            scope.setdefault("state", {})["shed"] = True
            start: HTTPResponseStartEvent = {
                "type": "http.response.start",
                "status": 503,
                "headers": self.headers,
            }
            await send(start)
            body: HTTPResponseBodyEvent = {
                "type": "http.response.body",
                "body": self.refusal,
                "more_body": False,
            }
            await send(body)
            return
        admitted = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            gate.leave(time.perf_counter() - admitted)
