"""An instrument's live status (现场状态), as the domain that monitors it says: the port.

The catalogue shows it on an instrument's page, search filters and counts by it, the bot answers
"XRD 现在能用吗" with it; the oversight domain, which reads the sensors, implements
:class:`LiveStatusReader` and registers it under :data:`LIVE_STATUS` at start-up (nothing here
imports it). Where oversight is not loaded, no status is shown.

现在空闲 ("free now", what a researcher on a phone means by "can I use it now"): the sensor
reports the instrument on standby or off (not running, not silent), and no confirmed
machine-time booking covers this moment.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from yixiang.registry import ServiceKey


class LiveState(enum.StrEnum):
    running = "running"  # 运行中
    standby = "standby"  # 待机
    off = "off"  # 关机
    offline = "offline"  # 传感器离线: a silent sensor, not an instrument known to be off
    no_sensor = "no_sensor"  # 未接入传感器


LABELS = {
    LiveState.running: "运行中",
    LiveState.standby: "待机",
    LiveState.off: "关机",
    LiveState.offline: "传感器离线",
    LiveState.no_sensor: "未接入传感器",
}
FREE_STATES = frozenset({LiveState.standby, LiveState.off})
FREE_NOW = "free_now"  # the search filter and facet value 现在空闲
FREE_NOW_LABEL = "现在空闲"


class LiveFilter(enum.StrEnum):
    """The values of search's ``live`` filter."""

    free_now = FREE_NOW
    running = "running"
    standby = "standby"
    off = "off"
    offline = "offline"


# What search filters and counts by: 现在空闲, then each state a sensor reports
FILTERS = (FREE_NOW, LiveState.running, LiveState.standby, LiveState.off, LiveState.offline)
FILTER_LABELS = {FREE_NOW: FREE_NOW_LABEL, **{s.value: label for s, label in LABELS.items()}}


class LiveStatus(msgspec.Struct, frozen=True):
    # a Struct, not a dataclass: every search builds one per monitored instrument (a frozen
    # dataclass took eight times as long to make)
    status: LiveState
    since: datetime | None
    watts: int | None = None
    last_reading_at: datetime | None = None
    booked_now: bool = False  # a confirmed machine-time booking covers this moment

    @property
    def free_now(self) -> bool:
        return self.status in FREE_STATES and not self.booked_now

    @property
    def label(self) -> str:
        if self.free_now:
            return FREE_NOW_LABEL
        if self.booked_now and self.status != LiveState.running:
            return f"{LABELS[self.status]}（当前时段已被预约）"
        return LABELS[self.status]

    def matches(self, wanted: str) -> bool:
        """Whether this status is what a search filter value (``FILTERS``) asks for."""
        return self.free_now if wanted == FREE_NOW else self.status == wanted


NO_SENSOR = LiveStatus(LiveState.no_sensor, None)


class LiveStatusReader(Protocol):
    async def statuses(
        self, session: AsyncSession, ids: Sequence[uuid.UUID], now: datetime | None = None
    ) -> dict[uuid.UUID, LiveStatus]:
        """Every given instrument's status (``NO_SENSOR`` for those without a reporting sensor)."""
        ...

    async def monitored(
        self, session: AsyncSession, now: datetime | None = None
    ) -> dict[uuid.UUID, LiveStatus]:
        """Every instrument with an active sensor, and its status (the others: ``NO_SENSOR``): as
        of ``now`` when given, else as of a read that may be shared for a short period (search
        reads this for every request; the implementation says how old it may be)."""
        ...


LIVE_STATUS: ServiceKey[LiveStatusReader] = ServiceKey("catalogue.live_status")
