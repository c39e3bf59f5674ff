"""结果: the signed link to a booking's results (only the booking's own firm gets one)."""

from __future__ import annotations

import uuid

from bot.conversation.base import Reply, Turn, numbered, pick_number
from bot.conversation.my_bookings import bookings_of, line


async def handle(turn: Turn, rest: str) -> Reply:
    found = await bookings_of(turn)
    if isinstance(found, Reply):
        return found
    ready = [b for b in found if b.has_results]
    if not ready:
        return Reply("还没有可下载的检测结果。结果上传后会第一时间通知您。")
    index = pick_number(rest, len(ready)) if rest else None
    if index is None and len(ready) == 1:
        index = 0
    if index is not None:
        return await send(turn, ready[index].id)
    turn.set_flow("pick", purpose="results", ids=[str(b.id) for b in ready])
    return Reply("哪条预约的结果？请回复序号：\n" + numbered([line(b) for b in ready]))


async def send(turn: Turn, booking_id: uuid.UUID) -> Reply:
    """Every file of the booking, each an absolute link WeChat's browser opens, and how long it lasts."""
    assert turn.ports.bookings is not None and turn.principal is not None
    links = await turn.ports.bookings.result_links(turn.principal, booking_id)
    turn.clear_flow()
    if not links or not links[0].url.startswith(("https://", "http://")):
        # No public address configured: a path cannot be tapped in WeChat.
        return Reply("检测结果已就绪，请在仪享小程序「我的预约」中下载（仅限本企业使用）。")
    minutes = max(1, links[0].expires_in_seconds // 60)
    lines = [
        f"检测结果共 {len(links)} 个文件（链接 {minutes} 分钟内有效，过期请再发「结果」；仅限本企业使用）："
    ]
    lines += [f"{i}. {link.name}\n{link.url}" for i, link in enumerate(links, 1)]
    return Reply("\n".join(lines))
