"""找核磁 / 明天下午杭州的XRD: search published instruments; a numbered list with the true total,
continued by 「更多」."""

from __future__ import annotations

from typing import Any

from bot.conversation.base import LIST_LIMIT, UNAVAILABLE, Reply, Turn, more_hint, numbered, yuan
from bot.conversation.memory import remember
from bot.conversation.when_words import passed
from bot.ports import InstrumentSummary
from bot.understanding import Reading, understand

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


def _region(reading: Reading) -> str | None:
    place = reading.slots.place
    return place if place and place != "nearby" else None


async def handle(turn: Turn, reading: Reading | str) -> Reply:
    if isinstance(reading, str):
        reading = understand(reading, turn.now)
    query = reading.query
    if not query:
        return Reply("想找什么仪器？请发送名称或关键词，例如「核磁」「扫描电镜」「XRD 杭州」。")
    if turn.ports.catalog is None:
        return Reply(UNAVAILABLE)
    when = reading.slots.when
    if when is not None and (refused := passed(when, turn.now)):
        return Reply(refused)
    remember(turn, "search", reading)
    search: dict[str, Any] = {"region": _region(reading), "sort": reading.slots.sort or None}
    notes = []
    page = await turn.ports.catalog.search_page(
        query, offset=0, limit=LIST_LIMIT, principal=turn.principal, **search
    )
    if page.total == 0 and (search["region"] or search["sort"]):
        notes.append(f"{reading.slots.place_name or '该地区'}暂无，以下是其他地区的：")
        search |= {"region": None}
        page = await turn.ports.catalog.search_page(
            query, offset=0, limit=LIST_LIMIT, principal=turn.principal, **search
        )
    if page.total == 0:
        turn.clear_flow()
        if reading.slots.instrument:
            # A known instrument word: say what the platform lacks, not that the sentence failed.
            return Reply(
                f"平台上暂时没有开放预约的{reading.slots.instrument_said}（{reading.slots.instrument}）。"
                "可以换个相近的仪器试试，或发送「人工」咨询。"
            )
        return Reply(
            f"没有找到与「{query}」相关的可预约仪器。换个说法试试，例如「核磁」「NMR」「扫描电镜」。"
        )
    if reading.slots.place == "nearby":
        notes.append("（暂不知道您的位置，按全部地区列出；发送城市名如「杭州」可缩小范围）")
    turn.set_flow(
        "pick",
        purpose="instrument",
        ids=[str(i.id) for i in page.items],
        names=[i.name for i in page.items],
        listing={"kind": "search", "query": query, **search, "total": page.total},
        when=remembered_when(reading),
    )
    shown = len(page.items)
    head = f"找到 {page.total} 台与「{query}」相关的仪器"
    head += f"（第 1-{shown} 台）：" if page.total > shown else "："
    footer = "\n".join(x for x in (FOOTER, more_hint(shown, page.total)) if x)
    return Reply("\n".join([*notes, head]) + "\n" + numbered([summary_line(i) for i in page.items], footer))


def remembered_when(reading: Reading) -> list[Any] | None:
    when = reading.slots.when
    return [when.start.isoformat(), when.end.isoformat(), when.exact] if when else None


async def more(turn: Turn) -> Reply | None:
    """The next page of the search list in the conversation; None when there is none."""
    state = turn.state or {}
    listing = state.get("listing") or {}
    if state.get("flow") != "pick" or listing.get("kind") != "search" or turn.ports.catalog is None:
        return None
    ids: list[str] = state["ids"]
    offset, total = len(ids), listing["total"]
    if offset >= total:
        return Reply(f"已经是全部 {total} 台了。回复序号查看详情。")
    page = await turn.ports.catalog.search_page(
        listing["query"], offset=offset, limit=LIST_LIMIT, principal=turn.principal,
        region=listing.get("region"), sort=listing.get("sort"),
    )  # fmt: skip
    if not page.items:
        return Reply(f"已经是全部 {offset} 台了。回复序号查看详情。")
    state["ids"] = ids + [str(i.id) for i in page.items]
    state["names"] = state.get("names", []) + [i.name for i in page.items]
    listing["total"] = page.total
    shown = offset + len(page.items)
    head = f"「{listing['query']}」共 {page.total} 台，第 {offset + 1}-{shown} 台："
    footer = "\n".join(x for x in ("回复序号查看详情。", more_hint(shown, page.total)) if x)
    return Reply(head + "\n" + numbered([summary_line(i) for i in page.items], footer, start=offset + 1))
