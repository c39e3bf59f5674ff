"""我的预约: the firm's bookings (the port shows only the principal's firm's), newest first."""

from __future__ import annotations

import uuid

from bot.conversation.base import (
    LIST_LIMIT,
    NEEDS_BINDING,
    UNAVAILABLE,
    Reply,
    Turn,
    more_hint,
    numbered,
    when_text,
    yuan,
)
from bot.ports import BookingView


def line(b: BookingView) -> str:
    when = when_text(b.start, b.end) if b.start else (f"送样 {b.samples} 个" if b.samples else "")
    return f"{b.instrument_name}｜{when}｜{b.status_label}（{b.code}）"


def card(b: BookingView) -> str:
    lines = [f"预约 {b.code}", f"仪器：{b.instrument_name}", f"项目：{b.item_name}"]
    if b.start is not None:
        lines.append(f"时间：{when_text(b.start, b.end)}")
    if b.samples:
        lines.append(f"样品：{b.samples} 个")
    lines.append(f"状态：{b.status_label}")
    if b.fee_fen is not None:
        lines.append(f"费用：{yuan(b.fee_fen)}")
    if b.voucher_share_fen:
        lines.append(f"创新券：{yuan(b.voucher_share_fen)}")
    actions = []
    if b.can_cancel:
        actions.append("「取消预约」取消")
    if b.has_results:
        actions.append("「结果」获取报告")
    if b.can_rate:
        actions.append("「评价」打分")
    if actions:
        lines.append("可回复" + "，".join(actions) + "。")
    return "\n".join(lines)


KEPT = 50  # bookings a list remembers for 「更多」


async def bookings_of(turn: Turn) -> list[BookingView] | Reply:
    if turn.ports.bookings is None:
        return Reply(UNAVAILABLE)
    if turn.principal is None:
        return Reply(NEEDS_BINDING)
    return await turn.ports.bookings.list_mine(turn.principal, limit=KEPT)


async def handle(turn: Turn, rest: str) -> Reply:
    found = await bookings_of(turn)
    if isinstance(found, Reply):
        return found
    if not found:
        turn.clear_flow()
        return Reply("您还没有预约。发送仪器名称（如「核磁」）开始搜索。")
    turn.set_flow(
        "pick", purpose="booking", ids=[str(b.id) for b in found], listing={"kind": "lines"},
        lines=[line(b) for b in found], shown=min(LIST_LIMIT, len(found)),
    )  # fmt: skip
    shown = found[:LIST_LIMIT]
    footer = "\n".join(x for x in ("回复序号查看详情。", more_hint(len(shown), len(found))) if x)
    total = len(found)
    if total >= KEPT and turn.ports.bookings is not None and turn.principal is not None:
        total = await turn.ports.bookings.count_mine(turn.principal)  # the list holds the newest only
    count = f"共 {total} 条" + (f"，这里是最近的 {len(found)} 条" if total > len(found) else "")
    return Reply(f"您的预约（{count}）：\n" + numbered([line(b) for b in shown], footer))


async def more(turn: Turn) -> Reply | None:
    state = turn.state or {}
    if (state.get("listing") or {}).get("kind") != "lines":
        return None
    lines, shown = state["lines"], state["shown"]
    if shown >= len(lines):
        return Reply(f"已经是全部 {len(lines)} 条了。")
    page = lines[shown : shown + LIST_LIMIT]
    state["shown"] = shown + len(page)
    footer = "\n".join(x for x in ("回复序号查看详情。", more_hint(state["shown"], len(lines))) if x)
    return Reply(
        f"共 {len(lines)} 条，第 {shown + 1}-{state['shown']} 条：\n" + numbered(page, footer, shown + 1)
    )


async def show_one(turn: Turn, booking_id: uuid.UUID) -> Reply:
    found = await bookings_of(turn)
    if isinstance(found, Reply):
        return found
    for b in found:
        if b.id == booking_id:
            turn.set_flow("booking", booking_id=str(b.id))
            return Reply(card(b))
    turn.clear_flow()
    return Reply("没有找到这条预约。")
