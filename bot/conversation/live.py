"""XRD 现在能用吗 / 核磁现在空闲吗: the instrument's live status from its sensor (现场状态), and
whether a booking holds this moment; several matches: each with its status, the free ones first."""

from __future__ import annotations

import uuid
from datetime import datetime

from bot.conversation.base import UNAVAILABLE, Reply, Turn, numbered
from bot.conversation.details import current_instrument
from bot.conversation.search import find
from bot.ports import InstrumentDetails
from bot.understanding import Reading
from yixiang.clock import SHANGHAI

AFTER = "回复「预约」预约这台仪器，或问「明天有空吗」查看可预约时段。"


def _since(d: InstrumentDetails, now: datetime) -> str:
    if d.live_since is None:
        return ""
    local = d.live_since.astimezone(SHANGHAI)
    if local.date() == now.astimezone(SHANGHAI).date():
        return f"，自 {local:%H:%M} 起"
    return f"，自 {local.month}月{local.day}日 {local:%H:%M} 起"


def answer(d: InstrumentDetails, now: datetime) -> str:
    """One sentence: can it be used now, and why (not)."""
    since = _since(d, now)
    if not d.live_status:
        return f"{d.name}：暂不能查看现场状态。"
    if d.free_now:
        return f"{d.name} 现在空闲（仪器{'待机' if d.live_status == 'standby' else '关机'}{since}）。"
    if d.live_status == "running":
        return f"{d.name} 正在运行{since}，现在有人在用。"
    if d.booked_now:
        return f"{d.name} 此刻的时段已被预约，暂不能使用。"
    if d.live_status == "offline":
        return f"{d.name} 的传感器暂时离线{since}，无法确认现在是否在用。"
    return f"{d.name} 尚未接入物联网传感器，无法查看现在是否在用。"


async def handle(turn: Turn, reading: Reading) -> Reply:
    catalog = turn.ports.catalog
    if catalog is None:
        return Reply(UNAVAILABLE)
    query = reading.query
    ids: list[uuid.UUID]
    if query:
        found = await find(turn, query)
        if not found:
            return Reply(f"没有找到与「{query}」相关的仪器。")
        ids = [i.id for i in found]
    else:
        current = current_instrument(turn)
        if current is None:
            return Reply("想问哪台仪器？例如「XRD 现在能用吗」。")
        ids = [current]
    details = [d for d in [await catalog.details(i, turn.principal) for i in ids] if d is not None]
    if not details:
        return Reply("这台仪器暂不可预约或已下线。")
    if len(details) == 1:
        d = details[0]
        turn.set_flow("instrument", instrument_id=str(d.id), name=d.name)
        return Reply(f"{answer(d, turn.now)}\n{AFTER}")
    details.sort(key=lambda d: (not d.free_now, d.live_status != "running"))
    free = sum(d.free_now for d in details)
    turn.set_flow(
        "pick", purpose="instrument", ids=[str(d.id) for d in details], names=[d.name for d in details]
    )
    head = (
        f"找到 {len(details)} 台，其中 {free} 台现在空闲："
        if free
        else f"找到 {len(details)} 台，现在都不空闲："
    )
    lines = [f"{d.name}｜{d.unit_name}｜{d.live_label or '状态未知'}" for d in details]
    return Reply(head + "\n" + numbered(lines, "回复序号查看详情；回复「预约 序号」直接预约。"))
