"""The conversation framework: one turn's context, replies within WeChat's limits, state in the store.

State is one JSON object per follower under ``bot:state:<openid>`` with a TTL: a flow that is
left alone for half an hour is forgotten. A flow is named by ``state["flow"]``; its module's
``resume(turn, text)`` continues it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.auth import Principal
from bot.models import Follower
from bot.ports import Ports
from bot.settings import WeChatSettings
from yixiang.clock import SHANGHAI
from yixiang.dates import WEEKDAY_NAMES
from yixiang.settings import Settings
from yixiang.store import Store

log = logging.getLogger("bot.conversation")

STATE_TTL_SECONDS = 30 * 60
# WeChat cuts text messages at 2048 bytes; keep a margin for the XML around them.
TEXT_LIMIT_BYTES = 2000
LIST_LIMIT = 8

UNAVAILABLE = "该功能暂未开通，请稍后再试或使用仪享小程序。"
NEEDS_BINDING = (
    "请先绑定仪享账号：在仪享小程序或网页登录后，于「我的 → 绑定公众号」获取 6 位绑定码，"
    "然后发送「绑定 123456」。未绑定也可以直接搜索仪器。"
)
NEEDS_FIRM = "您的账号还没有加入企业，暂不能预约或查看创新券。请联系企业管理员邀请您加入。"


@dataclass
class Article:
    title: str
    description: str
    url: str
    image: str = ""


@dataclass
class Reply:
    text: str = ""
    article: Article | None = None

    @property
    def is_empty(self) -> bool:
        return not self.text and self.article is None


@dataclass
class Incoming:
    openid: str
    kind: str  # text | event | other
    text: str = ""
    event: str = ""
    event_key: str = ""
    key: str = ""  # the de-duplication key of the message: also the idempotency key of its effects
    at: datetime | None = None


@dataclass
class Turn:
    """Everything one intent handler needs to answer one message."""

    incoming: Incoming
    now: datetime
    settings: Settings
    store: Store
    session_maker: async_sessionmaker[AsyncSession]
    ports: Ports
    follower: Follower | None
    principal: Principal | None
    state: dict[str, Any] | None = None

    @property
    def openid(self) -> str:
        return self.incoming.openid

    def effect_key(self, what: str) -> str:
        """An idempotency key for an effect of this message (WeChat retries carry the same key)."""
        return f"wechat:{self.incoming.key}:{what}"

    def set_flow(self, flow: str, **data: Any) -> None:
        last = (self.state or {}).get("last")
        self.state = {"flow": flow, **data}
        if last and "last" not in data:
            self.state["last"] = last  # the last request outlives flows (「下午呢」 refines it)

    def clear_flow(self) -> None:
        last = (self.state or {}).get("last")
        self.state = {"last": last} if last else None


def state_key(openid: str) -> str:
    return f"bot:state:{openid}"


async def load_state(store: Store, openid: str) -> dict[str, Any] | None:
    raw = await store.get(state_key(openid))
    if not raw:
        return None
    try:
        state = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    return state if isinstance(state, dict) else None


async def save_state(store: Store, openid: str, state: dict[str, Any] | None) -> None:
    if state is None:
        await store.delete(state_key(openid))
    else:
        await store.set(state_key(openid), msgspec.json.encode(state), ttl=STATE_TTL_SECONDS)


# --- formatting -----------------------------------------------------------------------------
def fit_text(text: str, limit: int = TEXT_LIMIT_BYTES) -> str:
    """Cut ``text`` to WeChat's size at a line boundary where possible, marking the cut."""
    if len(text.encode()) <= limit:
        return text
    marker = "\n……（内容较多，请在小程序中查看全部）"
    budget = limit - len(marker.encode())
    kept: list[str] = []
    used = 0
    for line in text.split("\n"):
        size = len(line.encode()) + 1
        if used + size > budget:
            if not kept:  # one huge line: cut inside it
                kept.append(line.encode()[:budget].decode(errors="ignore"))
            break
        kept.append(line)
        used += size
    return "\n".join(kept) + marker


def yuan(fen: int | None) -> str:
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d} 元"


def when_text(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return ""
    s = start.astimezone(SHANGHAI)
    text = f"{s.month}月{s.day}日（周{WEEKDAY_NAMES[s.weekday()]}）{s:%H:%M}"
    if end is not None:
        text += f"-{end.astimezone(SHANGHAI):%H:%M}"
    return text


def numbered(lines: list[str], footer: str = "", start: int = 1) -> str:
    body = "\n".join(f"{i}. {line}" for i, line in enumerate(lines, start))
    return body + ("\n" + footer if footer else "")


def more_hint(shown_to: int, total: int) -> str:
    """The line under a page of a longer list: how many remain and how to see them."""
    if shown_to >= total:
        return ""
    return f"还有 {total - shown_to} 项，回复「更多」继续查看。"


def pick_number(text: str, count: int) -> int | None:
    """'2', '第2个', '２', '二' -> index 1; None when the text is not a number in 1..count."""
    from yixiang.dates import cn_number, normalize

    cleaned = normalize(text).strip().strip("。.!！")
    for prefix in ("第", "选", "要"):
        cleaned = cleaned.removeprefix(prefix)
    for suffix in ("个", "项", "号", "条"):
        cleaned = cleaned.removesuffix(suffix)
    number = cn_number(cleaned.strip())
    if number is None or not 1 <= number <= count:
        return None
    return number - 1


def link(settings: Settings, path: str) -> str:
    base = WeChatSettings.of(settings).h5_base_url.rstrip("/")
    return f"{base}/{path.lstrip('/')}" if base else ""
