"""详情: one instrument, its service items with the price this user pays, and where to book."""

from __future__ import annotations

import uuid

from bot.conversation.base import UNAVAILABLE, Article, Reply, Turn, fit_text, link
from bot.conversation.search import find
from bot.ports import InstrumentDetails
from bot.understanding import Reading

UNIT_LABELS = {"per_hour": "小时", "per_sample": "样", "per_item": "项"}
MODE_LABELS = {"machine_time": "机时", "sample_testing": "送样"}


def render(d: InstrumentDetails) -> str:
    lines = [f"【{d.name}】"]
    if d.model or d.manufacturer:
        lines.append(f"型号：{' '.join(x for x in (d.manufacturer, d.model) if x)}")
    lines.append(f"单位：{d.unit_name}")
    if d.address:
        lines.append(f"地址：{d.address}")
    if d.rating_mean is not None and d.rating_count:
        lines.append(f"评分：{d.rating_mean:.1f}（{d.rating_count} 条评价）")
    if d.live_label:
        lines.append(f"现场状态：{d.live_label}")
    lines.append("可用创新券抵扣" if d.voucher_eligible else "不支持创新券")
    if d.items:
        lines.append("服务项目：")
        from bot.conversation.base import yuan

        for item in d.items:
            turnaround = (
                f"，约 {item.turnaround_working_days} 个工作日" if item.turnaround_working_days else ""
            )
            lines.append(
                f"· {item.name}（{MODE_LABELS.get(item.mode, item.mode)}）"
                f"{yuan(item.price_fen)}/{UNIT_LABELS.get(item.price_unit, '次')}{turnaround}"
            )
    if d.sample_requirements:
        lines.append(f"样品要求：{d.sample_requirements}")
    lines.append("回复「预约」预约这台仪器，「明天有空吗」查看空闲时段。")
    return "\n".join(lines)


async def show(turn: Turn, instrument_id: uuid.UUID) -> Reply:
    if turn.ports.catalog is None:
        return Reply(UNAVAILABLE)
    d = await turn.ports.catalog.details(instrument_id, turn.principal)
    if d is None:
        turn.clear_flow()
        return Reply("这台仪器暂不可预约或已下线。")
    when = (turn.state or {}).get("when")  # a time said with the search, kept for 「预约」
    turn.set_flow("instrument", instrument_id=str(d.id), name=d.name, when=when)
    text = fit_text(render(d))
    url = d.url or link(turn.settings, f"instruments/{d.id}")
    if url:
        # One article per passive reply (WeChat's limit for news replies since 2018).
        return Reply(text, Article(title=d.name, description=text[:120], url=url))
    return Reply(text)


def current_instrument(turn: Turn) -> uuid.UUID | None:
    if turn.state and turn.state.get("flow") in ("instrument", "book") and turn.state.get("instrument_id"):
        return uuid.UUID(turn.state["instrument_id"])
    return None


async def handle(turn: Turn, reading: Reading) -> Reply:
    state = turn.state or {}
    if reading.number is not None and state.get("flow") == "pick" and state.get("purpose") == "instrument":
        if 1 <= reading.number <= len(state["ids"]):
            return await show(turn, uuid.UUID(state["ids"][reading.number - 1]))
    query = reading.query
    if not query:
        current = current_instrument(turn)
        if current is not None:
            return await show(turn, current)
        return Reply("想看哪台仪器的详情？请发送仪器名称，例如「详情 核磁」。")
    found = await find(turn, query)
    if len(found) == 1:
        return await show(turn, found[0].id)
    from bot.conversation import search

    return await search.handle(turn, reading)
