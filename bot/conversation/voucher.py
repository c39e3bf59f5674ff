"""券还剩多少 / 券记录: the firm's innovation vouchers (only the principal's own firm's)."""

from __future__ import annotations

from bot.conversation.base import NEEDS_BINDING, NEEDS_FIRM, UNAVAILABLE, Reply, Turn, yuan
from yixiang.clock import SHANGHAI

HISTORY_LIMIT = 10


def _blocked(turn: Turn) -> Reply | None:
    if turn.ports.vouchers is None:
        return Reply(UNAVAILABLE)
    if turn.principal is None:
        return Reply(NEEDS_BINDING)
    if not turn.principal.enterprise_ids:
        return Reply(NEEDS_FIRM)
    return None


async def handle(turn: Turn, rest: str) -> Reply:
    blocked = _blocked(turn)
    if blocked:
        return blocked
    assert turn.ports.vouchers is not None and turn.principal is not None
    balances = await turn.ports.vouchers.balance(turn.principal)
    if not balances:
        return Reply("贵企业目前没有可用的创新券。可向所在地科技局申领。")
    lines = ["贵企业的创新券："]
    for b in balances:
        line = f"· {b.program_name}：可用 {yuan(b.balance_fen)}"
        if b.held_fen:
            line += f"，冻结 {yuan(b.held_fen)}"
        if b.expires_on:
            line += f"，有效期至 {b.expires_on:%Y-%m-%d}"
        lines.append(line)
    total = sum(b.balance_fen for b in balances)
    lines.append(f"合计可用：{yuan(total)}。发送「券记录」查看使用明细。")
    return Reply("\n".join(lines))


async def history(turn: Turn, rest: str) -> Reply:
    blocked = _blocked(turn)
    if blocked:
        return blocked
    assert turn.ports.vouchers is not None and turn.principal is not None
    entries = await turn.ports.vouchers.history(turn.principal, limit=HISTORY_LIMIT)
    if not entries:
        return Reply("还没有创新券使用记录。")
    lines = ["最近的创新券记录："]
    for e in entries:
        at = e.at.astimezone(SHANGHAI)
        ref = f"（{e.booking_code}）" if e.booking_code else ""
        lines.append(f"· {at:%m-%d %H:%M} {e.label} {yuan(e.amount_fen)}{ref}")
    return Reply("\n".join(lines))
