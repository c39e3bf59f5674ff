"""预约: the multi-turn booking flow — which instrument → which day/time → which service item → confirm.

"预约 XRD 明天下午 " can fill several steps at once; each missing piece is asked for in turn,
with numbered choices. The booking itself is created through the booking port with an
idempotency key derived from the confirming message, so WeChat's retries book once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from bot.conversation import ranges
from bot.conversation.base import (
    LIST_LIMIT,
    NEEDS_BINDING,
    NEEDS_FIRM,
    UNAVAILABLE,
    Reply,
    Turn,
    numbered,
    pick_number,
    when_text,
    yuan,
)
from bot.conversation.details import MODE_LABELS, UNIT_LABELS, current_instrument
from bot.conversation.intents import clean, query_text
from bot.conversation.memory import remember
from bot.conversation.search import find, summary_line
from bot.conversation.when_words import closed_reason, day_of, passed
from bot.ports import FreeRanges, Slot
from bot.understanding import Reading
from yixiang.clock import SHANGHAI
from yixiang.dates import When, parse_when

CONFIRM_WORDS = {"1", "确认", "确定", "是", "是的", "好", "好的", "ok", "提交", "确认提交", "对", "yes", "y"}
SAMPLE_WORDS = ("送样", "寄样", "样品检测", "送检")
MAX_SAMPLES = 1000


def _ready(turn: Turn) -> Reply | None:
    if turn.ports.catalog is None or turn.ports.bookings is None:
        return Reply(UNAVAILABLE)
    if turn.principal is None:
        return Reply(NEEDS_BINDING)
    if not turn.principal.enterprise_ids:
        return Reply(NEEDS_FIRM)
    return None


def _when_data(when: When | None) -> list[Any] | None:
    return None if when is None else [when.start.isoformat(), when.end.isoformat(), when.exact]


def _when_from(data: list[Any] | None) -> When | None:
    if not data:
        return None
    return When(datetime.fromisoformat(data[0]), datetime.fromisoformat(data[1]), bool(data[2]), ())


def _data(turn: Turn) -> dict[str, Any]:
    return {k: v for k, v in (turn.state or {}).items() if k not in ("flow", "step")}


def _go(turn: Turn, step: str, data: dict[str, Any]) -> None:
    turn.set_flow("book", step=step, **data)


async def handle(turn: Turn, reading: Reading) -> Reply:
    blocked = _ready(turn)
    if blocked:
        return blocked
    state = turn.state or {}
    when = reading.slots.when or _when_from(state.get("when"))
    if when is not None and (refused := passed(when, turn.now)):
        return Reply(refused)
    query = reading.query
    number = reading.number
    if query or when:
        remember(turn, "book", reading)
    if number is not None and state.get("flow") == "pick" and state.get("purpose") == "instrument":
        if 1 <= number <= len(state["ids"]):
            return await with_instrument(
                turn, uuid.UUID(state["ids"][number - 1]), when, said_samples=reading.slots.samples
            )
    if number is not None and state.get("flow") == "instrument" and state.get("slots"):
        if 1 <= number <= len(state["slots"]):
            taken = ranges.take(state, number - 1, reading.slots.duration_minutes)
            if isinstance(taken, str):
                return Reply(taken)
            return await with_instrument(turn, uuid.UUID(state["instrument_id"]), None, Slot(*taken))
    if query:
        found = await find(turn, query)
        if not found:
            if reading.slots.instrument:
                return Reply(
                    f"平台上暂时没有开放预约的{reading.slots.instrument_said}（{reading.slots.instrument}）。"
                )
            return Reply(f"没有找到与「{query}」相关的可预约仪器。")
        if len(found) == 1:
            return await with_instrument(turn, found[0].id, when, said_samples=reading.slots.samples)
        _go(
            turn,
            "instrument",
            {"ids": [str(i.id) for i in found], "when": _when_data(when)},
        )
        return Reply("要预约哪一台？请回复序号：\n" + numbered([summary_line(i) for i in found]))
    current = current_instrument(turn)
    if current is not None:
        return await with_instrument(turn, current, when, said_samples=reading.slots.samples)
    _go(turn, "instrument_query", {"when": _when_data(when)})
    return Reply("要预约哪台仪器？请发送仪器名称，例如「XRD」「核磁」。")


async def with_instrument(
    turn: Turn,
    instrument_id: uuid.UUID,
    when: When | None,
    slot: Slot | None = None,
    said_samples: int | None = None,
) -> Reply:
    """``said_samples``: a number of samples said in the request (「送3个样品测ICP」), not asked again."""
    assert turn.ports.catalog is not None
    d = await turn.ports.catalog.details(instrument_id, turn.principal)
    if d is None:
        turn.clear_flow()
        return Reply("这台仪器暂不可预约或已下线。")
    data: dict[str, Any] = {"instrument_id": str(d.id), "instrument_name": d.name}
    if said_samples is not None and 1 <= said_samples <= MAX_SAMPLES:
        data["said_samples"] = said_samples
    data["items"] = [[str(i.id), i.name, i.mode, i.price_fen, i.price_unit] for i in d.items]
    machine = [i for i in d.items if i.mode == "machine_time"]
    samples = [i for i in d.items if i.mode == "sample_testing"]
    if not machine and not samples:
        turn.clear_flow()
        return Reply(f"{d.name} 暂无可预约的服务项目，请联系管理单位。")
    if slot is not None and machine:
        data |= {"mode": "machine_time", "start": slot.start.isoformat(), "end": slot.end.isoformat()}
        return await ask_item(turn, data)
    if not machine:
        data["mode"] = "sample_testing"
        return await ask_item(turn, data)
    if when is not None:
        return await take_when(turn, data, when)
    _go(turn, "when", data)
    return Reply(_when_prompt(data))


def _when_prompt(data: dict[str, Any]) -> str:
    text = f"预约 {data['instrument_name']}：请回复日期和时段，例如「明天下午」「11月25日 14:00-16:00」。"
    if any(item[2] == "sample_testing" for item in data["items"]):
        text += "\n送样检测（无需上机时段）请回复「送样」。"
    return text


def covered(slots: list[Slot], start: datetime, end: datetime) -> bool:
    """Whether free slots cover [start, end) without a gap."""
    cursor = start
    for slot in sorted(slots, key=lambda s: s.start):
        if slot.start <= cursor < slot.end:
            cursor = slot.end
            if cursor >= end:
                return True
    return False


async def take_when(turn: Turn, data: dict[str, Any], when: When) -> Reply:
    assert turn.ports.bookings is not None
    instrument_id = uuid.UUID(data["instrument_id"])
    day_start = datetime.combine(when.start.astimezone(SHANGHAI).date(), datetime.min.time(), SHANGHAI)
    if when.exact:
        if refused := passed(when, turn.now):
            return Reply(refused)
        slots = await turn.ports.bookings.free_slots(instrument_id, day_start, when.end)
        if covered(slots, when.start, when.end):
            data |= {"mode": "machine_time", "start": when.start.isoformat(), "end": when.end.isoformat()}
            return await ask_item(turn, data)
        day = await turn.ports.bookings.free_ranges(
            instrument_id, max(day_start, turn.now), day_start + timedelta(days=1)
        )
        intro = f"{when.label()} 不可预约（已被占用或不在开放时间）。"
        return _offer_slots(turn, data, day, intro, when)
    if refused := passed(when, turn.now):
        _go(turn, "when", data)
        return Reply(refused)
    start = max(when.start, turn.now)
    free = await turn.ports.bookings.free_ranges(instrument_id, start, when.end) if when.end > start else None
    return _offer_slots(turn, data, free, "", when)


def _offer_slots(
    turn: Turn, data: dict[str, Any], free: FreeRanges | None, intro: str, when: When | None = None
) -> Reply:
    if free is None or not free.ranges:
        _go(turn, "when", data)
        why = closed_reason(day_of(when)) if when is not None else ""
        return Reply(
            (intro + "\n" if intro else "")
            + why
            + "这段时间没有空闲时段，请换个日期或时段，例如「后天上午」。"
        )
    kept = ranges.remembered(free)
    kept["slots"] = kept["slots"][:LIST_LIMIT]
    data |= kept
    _go(turn, "slot", data)
    return Reply(
        (intro + "\n" if intro else "")
        + "可预约时段，请回复序号：\n"
        + numbered(ranges.lines(kept["slots"]), ranges.how_to_pick(kept))
    )


async def ask_item(turn: Turn, data: dict[str, Any]) -> Reply:
    items = [i for i in data["items"] if i[2] == data["mode"]]
    data["choices"] = [i[0] for i in items]
    if len(items) == 1:
        return await choose_item(turn, data, items[0])
    _go(turn, "item", data)
    lines = [
        f"{i[1]}（{MODE_LABELS.get(i[2], i[2])}）{yuan(i[3])}/{UNIT_LABELS.get(i[4], '次')}" for i in items
    ]
    return Reply("请选择服务项目，回复序号：\n" + numbered(lines))


async def choose_item(turn: Turn, data: dict[str, Any], item: list[Any]) -> Reply:
    data |= {"item_id": item[0], "item_name": item[1]}
    if data["mode"] == "sample_testing":
        if data.get("said_samples"):
            data["samples"] = data["said_samples"]
            return await ask_confirm(turn, data)
        _go(turn, "samples", data)
        return Reply(f"{item[1]}：请回复样品数量（1-{MAX_SAMPLES}）。")
    return await ask_confirm(turn, data)


async def ask_confirm(turn: Turn, data: dict[str, Any]) -> Reply:
    assert turn.ports.bookings is not None and turn.principal is not None
    start, end = _times(data)
    quote = await turn.ports.bookings.quote(
        turn.principal, uuid.UUID(data["item_id"]), start=start, end=end, samples=data.get("samples")
    )
    _go(turn, "confirm", data)
    lines = ["请确认预约：", f"仪器：{data['instrument_name']}", f"项目：{data['item_name']}"]
    if start is not None:
        lines.append(f"时间：{when_text(start, end)}")
    if data.get("samples"):
        lines.append(f"样品：{data['samples']} 个")
    lines.append(f"预计费用：{yuan(quote.fee_fen)}")
    if quote.voucher_share_fen:
        lines.append(f"创新券抵扣：{yuan(quote.voucher_share_fen)}，自付：{yuan(quote.payable_fen)}")
    if quote.billing_rule:
        lines.append(f"计费方式：{quote.billing_rule}")
    lines.append("回复 1 确认提交，回复「取消」放弃。")
    return Reply("\n".join(lines))


def _times(data: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    if not data.get("start"):
        return None, None
    return datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])


async def submit(turn: Turn, data: dict[str, Any]) -> Reply:
    assert turn.ports.bookings is not None and turn.principal is not None
    start, end = _times(data)
    booking = await turn.ports.bookings.create(
        turn.principal,
        uuid.UUID(data["item_id"]),
        start=start,
        end=end,
        samples=data.get("samples"),
        idempotency_key=turn.effect_key("book"),
    )
    turn.clear_flow()
    lines = [
        "预约已提交！",
        f"编号：{booking.code}",
        f"仪器：{booking.instrument_name}",
        f"项目：{booking.item_name}",
    ]
    if booking.start is not None:
        lines.append(f"时间：{when_text(booking.start, booking.end)}")
    if booking.samples:
        lines.append(f"样品：{booking.samples} 个")
    lines.append(f"状态：{booking.status_label}")
    if booking.voucher_share_fen:
        lines.append(f"创新券已冻结：{yuan(booking.voucher_share_fen)}")
    lines.append("有进展会在这里通知您；发送「我的预约」查看。")
    return Reply("\n".join(lines))


async def resume(turn: Turn, text: str) -> Reply | None:
    blocked = _ready(turn)
    if blocked:
        turn.clear_flow()
        return blocked
    state = turn.state or {}
    step = state.get("step")
    data = _data(turn)
    if step == "instrument_query":
        if not query_text(text):
            return None
        data_when = _when_from(data.get("when"))
        found = await find(turn, query_text(text))
        if not found:
            return None
        if len(found) == 1:
            return await with_instrument(turn, found[0].id, data_when)
        _go(turn, "instrument", {"ids": [str(i.id) for i in found], "when": data.get("when")})
        return Reply("要预约哪一台？请回复序号：\n" + numbered([summary_line(i) for i in found]))
    if step == "instrument":
        index = pick_number(text, len(data["ids"]))
        if index is None:
            return None
        return await with_instrument(turn, uuid.UUID(data["ids"][index]), _when_from(data.get("when")))
    if step in ("when", "slot"):
        if step == "slot":
            picked = ranges.number_and_minutes(text, len(data.get("slots", [])))
            if picked is not None:
                taken = ranges.take(data, *picked)
                if isinstance(taken, str):
                    return Reply(taken)
                data |= {"mode": "machine_time", "start": taken[0].isoformat(), "end": taken[1].isoformat()}
                return await ask_item(turn, data)
        if any(word in clean(text) for word in SAMPLE_WORDS) and any(
            i[2] == "sample_testing" for i in data["items"]
        ):
            data["mode"] = "sample_testing"
            return await ask_item(turn, data)
        when = parse_when(text, turn.now)
        if when is None:
            return None
        return await take_when(turn, data, when)
    if step == "item":
        items = [i for i in data["items"] if i[0] in data["choices"]]
        index = pick_number(text, len(items))
        if index is None:
            return None
        return await choose_item(turn, data, items[index])
    if step == "samples":
        digits = "".join(ch for ch in clean(text) if ch.isdigit())
        if not digits or not 1 <= int(digits) <= MAX_SAMPLES:
            return None
        data["samples"] = int(digits)
        return await ask_confirm(turn, data)
    if step == "confirm":
        if clean(text).strip("。.!！") in CONFIRM_WORDS:
            return await submit(turn, data)
        return None
    return None


async def reprompt(turn: Turn) -> Reply:
    state = turn.state or {}
    step = state.get("step")
    prompts = {
        "instrument_query": "请发送要预约的仪器名称，例如「XRD」。",
        "instrument": "请回复列表中的序号选择仪器。",
        "slot": "请回复列表中的序号选择时段，或发送其他日期，例如「后天上午」。",
        "item": "请回复列表中的序号选择服务项目。",
        "samples": f"请回复样品数量（1-{MAX_SAMPLES} 的数字）。",
        "confirm": "回复 1 确认提交，回复「取消」放弃。",
    }
    if step == "when":
        return Reply("没看懂这个时间。" + _when_prompt(_data(turn)))
    return Reply(prompts.get(str(step), "请按提示回复，或发送「取消」退出。") + "（发送「取消」可退出预约）")
