"""The local outbox: notifications kept on this machine instead of sent to WeChat.

The embedded default runs with the public demo WeChat credentials (``bot/settings.py``); no
WeChat would take them, so sending would only knock on the real API host eight times per event
and log each failure. Instead, for an app that ``WeChatSettings.keeps_notifications_local``,
the notification consumers (``bot/notify.py``) hand their message to :class:`LocalOutbox`, which
has the gateway's sending methods and writes what the researcher would have read to
``bot_local_messages``, in the consumer's own transaction: nothing leaves the machine, nothing
fails, nothing is retried.

A person reads it with ``yixiang bot outbox`` or, on the embedded default, at ``/dev/outbox``.
The page is there only while the dev sign-in is on and some app keeps its notifications local:
the dev sign-in already hands anyone on such a server the operator's role (so a sign-in check
would protect nothing there), and a browser opens the page without a token. Where the dev
sign-in is off (production, or an embedded site that turned it off) the page answers 404, and
the command line — which needs the server's own settings — is the way in.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, Response, get
from litestar.enums import MediaType
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from accounts.settings import AccountsSettings
from bot.models import LocalMessage
from bot.settings import WeChatSettings
from yixiang.clock import SHANGHAI
from yixiang.errors import NotFound
from yixiang.settings import Settings

PAGE_PATH = "/dev/outbox"
DEFAULT_LIMIT = 50
# Inline styles only: the page loads nothing, from this host or any other.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def readable(title: str, labels: dict[str, str], data: dict[str, Any]) -> str:
    """A template message as its reader sees it: the title, then each keyword with its label."""
    lines = [title]
    for key, entry in data.items():
        value = entry.get("value", "") if isinstance(entry, dict) else entry
        lines.append(f"{labels.get(key, key)}：{value}")
    return "\n".join(lines)


class LocalOutbox:
    """The sending methods of ``bot.wechat.WeChatGateway``, writing to the local outbox."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        topic: str,
        user_id: uuid.UUID | None = None,
        title: str = "",
        labels: dict[str, str] | None = None,
    ) -> None:
        self.session = session
        self.topic, self.user_id, self.title = topic, user_id, title
        self.labels = labels or {}

    async def _keep(self, channel: str, openid: str, text: str, template_id: str = "", link: str = "") -> Any:
        self.session.add(
            LocalMessage(
                channel=channel,
                topic=self.topic,
                recipient=openid,
                user_id=self.user_id,
                template_id=template_id,
                text=text,
                link=link or "",
            )
        )
        await self.session.flush()
        return {}

    async def send_template(
        self, openid: str, template_id: str, data: dict[str, Any], url: str | None = None
    ) -> Any:
        text = readable(self.title, self.labels, data)
        return await self._keep("template", openid, text, template_id, url or "")

    async def send_subscribe(
        self, openid: str, template_id: str, data: dict[str, Any], page: str | None = None
    ) -> Any:
        text = readable(self.title, self.labels, data)
        return await self._keep("subscribe", openid, text, template_id, page or "")

    async def send_text(self, openid: str, text: str) -> Any:
        return await self._keep("custom", openid, text)


def mask(openid: str) -> str:
    """An openid as a person may see it: enough to tell two apart, not enough to address one."""
    if len(openid) <= 8:
        return openid[:2] + "…"
    return f"{openid[:4]}…{openid[-4:]}"


@dataclass(frozen=True)
class KeptMessage:
    at: datetime
    recipient: str  # masked openid, with the platform username when known
    channel: str
    topic: str
    text: str
    link: str


async def latest_messages(session: AsyncSession, limit: int = DEFAULT_LIMIT) -> list[KeptMessage]:
    """The newest kept messages first."""
    rows = await session.execute(
        select(LocalMessage, User.username)
        .outerjoin(User, User.id == LocalMessage.user_id)
        .order_by(LocalMessage.id.desc())
        .limit(limit)
    )
    found = []
    for message, username in rows.all():
        recipient = mask(message.recipient) + (f"（{username}）" if username else "")
        found.append(
            KeptMessage(
                at=message.created_at.astimezone(SHANGHAI),
                recipient=recipient,
                channel=message.channel,
                topic=message.topic,
                text=message.text,
                link=message.link,
            )
        )
    return found


def outbox_active(settings: Settings) -> bool:
    """Whether any app of the bot keeps its notifications here."""
    wechat = WeChatSettings.of(settings)
    return wechat.keeps_notifications_local(wechat.app_id) or wechat.keeps_notifications_local(
        wechat.miniprogram_credentials[0]
    )


def _row(message: KeptMessage) -> str:
    cells = [
        f"{message.at:%Y-%m-%d %H:%M:%S}",
        html.escape(message.recipient),
        f"{message.channel}<br><small>{html.escape(message.topic)}</small>",
        html.escape(message.text).replace("\n", "<br>")
        + (f"<br><small>{html.escape(message.link)}</small>" if message.link else ""),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def render_page(messages: list[KeptMessage]) -> str:
    rows = "".join(_row(m) for m in messages) or "<tr><td colspan='4'>（还没有通知）</td></tr>"
    return (
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<title>本地通知箱 · 仪享</title><style>"
        "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.4rem;"
        "vertical-align:top;text-align:left}th{background:#f4f4f4}small{color:#777}"
        "</style></head><body><h1>本地通知箱</h1>"
        "<p>微信未配置（演示凭据）：通知没有发往微信，保存在本机，最新的在前。</p>"
        "<table><thead><tr><th>时间（北京时间）</th><th>收件人</th><th>类型</th><th>内容</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></body></html>"
    )


@get(PAGE_PATH, include_in_schema=False)
async def outbox_page(request: Request[Any, Any, Any], db_session: AsyncSession) -> Response[str]:
    """The local outbox for the operator of an embedded server (see the module's docstring)."""
    settings: Settings = request.app.state.settings
    if not (AccountsSettings.of(settings).dev_login_enabled and outbox_active(settings)):
        raise NotFound()
    messages = await latest_messages(db_session)
    return Response(
        render_page(messages),
        media_type=MediaType.HTML,
        headers={"content-security-policy": PAGE_POLICY},
    )


ROUTES = [outbox_page]
