"""找核磁 / XRD 杭州: search published instruments; reply with a numbered list to continue."""

from __future__ import annotations

from bot.conversation.base import LIST_LIMIT, UNAVAILABLE, Reply, Turn, numbered, yuan
from bot.conversation.intents import query_text
from bot.ports import InstrumentSummary

FOOTER = "回复序号查看详情；回复「预约 序号」直接预约。"


def summary_line(item: InstrumentSummary) -> str:
    parts = [item.name]
    if item.model:
        parts.append(item.model)
    line = " ".join(parts) + f"｜{item.unit_name}"
    if item.region_name:
        line += f"（{item.region_name}）"
    if item.price_from_fen is not None:
        line += f"｜{yuan(item.price_from_fen)}起"
    if item.rating_mean is not None:
        line += f"｜{item.rating_mean:.1f}分"
    return line


async def find(turn: Turn, query: str) -> list[InstrumentSummary]:
    if turn.ports.catalog is None:
        return []
    return await turn.ports.catalog.search(query, limit=LIST_LIMIT, principal=turn.principal)


async def handle(turn: Turn, rest: str) -> Reply:
    query = query_text(rest)
    if not query:
        return Reply("想找什么仪器？请发送名称或关键词，例如「核磁」「扫描电镜」「XRD 杭州」。")
    if turn.ports.catalog is None:
        return Reply(UNAVAILABLE)
    found = await find(turn, query)
    if not found:
        turn.clear_flow()
        return Reply(
            f"没有找到与「{query}」相关的可预约仪器。换个说法试试，例如「核磁」「NMR」「扫描电镜」。"
        )
    turn.set_flow(
        "pick",
        purpose="instrument",
        ids=[str(i.id) for i in found],
        names=[i.name for i in found],
    )
    return Reply(
        f"找到 {len(found)} 台与「{query}」相关的仪器：\n"
        + numbered([summary_line(i) for i in found], FOOTER)
    )
