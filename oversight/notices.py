"""Idle-step notices (seed 004: 由管理单位提醒或说明 ... 通报批评): each step an instrument reaches
(``oversight.idle_step``) becomes one notice per admin of its unit (``oversight.idle_notice``,
keyed by case, step and admin: a step announced again notifies nobody twice), which the bot sends
as a WeChat template message. The science bureau reads the same steps in its idle list
(``GET /api/v1/oversight/idle``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select

from accounts.models import Membership, Organization, Role
from catalogue.models import Instrument
from oversight.models import IdleLevel
from yixiang.clock import SHANGHAI
from yixiang.domains import JobContext
from yixiang.outbox import Event, emit

IDLE_NOTICE = "oversight.idle_notice"  # one admin of the unit is told of a step (the bot sends it)

STEP_TEXTS = {
    IdleLevel.reminder: ("闲置满1个月", "请核实使用情况，可提交说明"),
    IdleLevel.transfer: ("闲置满3个月", "已列入内部资产划转名单"),
    IdleLevel.criticism: ("闲置满6个月", "管理单位列入通报批评名单"),
}


async def unit_admins(ctx: JobContext, unit_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        await ctx.session.scalars(
            select(Membership.user_id)
            .where(Membership.organization_id == unit_id, Membership.role == Role.unit_admin)
            .order_by(Membership.user_id)
        )
    )


async def notify_idle_step(ctx: JobContext, event: Event) -> None:
    """``oversight.idle_step``: one notice for each admin of the instrument's unit."""
    payload = event.payload
    level = IdleLevel(int(payload["level"]))
    if level not in STEP_TEXTS:
        return
    instrument = await ctx.session.get(Instrument, uuid.UUID(str(payload["instrument_id"])))
    unit_id = uuid.UUID(str(payload["unit_id"]))
    unit = await ctx.session.get(Organization, unit_id)
    step, action = STEP_TEXTS[level]
    since = datetime.fromisoformat(str(payload["idle_since"])).astimezone(SHANGHAI)
    notice: dict[str, Any] = {
        "case_id": payload["case_id"],
        "instrument_id": payload["instrument_id"],
        "instrument_name": instrument.name if instrument else "",
        "unit_name": unit.name if unit else "",
        "level": level.value,
        "step_text": step,
        "summary": action,
        "idle_since": since.isoformat(),
    }
    for user_id in await unit_admins(ctx, unit_id):
        await emit(
            ctx.session,
            IDLE_NOTICE,
            notice | {"user_id": user_id},
            key=f"oversight-idle-notice:{payload['case_id']}:{level.value}:{user_id}",
        )
