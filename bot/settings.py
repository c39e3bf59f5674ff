"""The bot's settings (the official account and the mini-program), and the demo WeChat credentials
for the embedded default.

In the embedded profile an empty WeChat configuration is filled with the demo values below (also
listed in bot/README.md), so the webhook, ``yixiang bot chat`` and the notifications work out of
the box against the local fake. Production never gets them: it must configure its own.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from yixiang.settings import Section, Settings, env_name
from yixiang.settings import looks_like_placeholder as is_placeholder

DEMO_APP_ID = "wx5f3c9a7e2d1b0a00"
DEMO_APP_SECRET = "yixiang-demo-app-secret-0000000000"
DEMO_TOKEN = "yixiangdemotoken"
DEMO_AES_KEY = "YixiangDemoEncodingAESKey0123456789abcdefgh"  # 43 characters, as WeChat issues them
DEMO_MINIPROGRAM_APP_ID = "wx5f3c9a7e2d1b0a01"
DEMO_MINIPROGRAM_APP_SECRET = "yixiang-demo-miniprogram-secret-00"
# A demo desk with a made-up number: production must say where its own desk is.
DEMO_SERVICE_DESK = "仪享平台客服：400-000-0000（工作日 9:00-17:30），或在小程序「我的 → 客服」留言。"

DEMO_VALUES = frozenset(
    {
        DEMO_APP_ID,
        DEMO_APP_SECRET,
        DEMO_TOKEN,
        DEMO_AES_KEY,
        DEMO_MINIPROGRAM_APP_ID,
        DEMO_MINIPROGRAM_APP_SECRET,
    }
)
CREDENTIALS = (
    *("app_id", "app_secret", "token", "aes_key", "miniprogram_app_id", "miniprogram_app_secret"),
    *("web_app_id", "web_app_secret"),
)
APP_ID = re.compile(r"wx[0-9a-f]{16}")


def looks_like_placeholder(value: str) -> bool:
    """A demo value of the bot's, a template's word, or one character repeated."""
    return is_placeholder(value, DEMO_VALUES)


# Every notification topic the bot sends; demo template ids are the topic with a prefix.
NOTIFICATION_TOPICS = (
    "booking.requested",
    "booking.confirmed",
    "booking.rejected",
    "booking.reminder",
    "booking.delivered",
    "booking.rating_requested",
    "booking.completed",  # the bill: what is left to pay after vouchers, and where to pay it
    "voucher.captured",
    "voucher.application_decided",
    "vouchers.refund_succeeded",
    "voucher.invoice_issued",
    "voucher.invoice_rejected",
    "waitlist.offered",
    "training.scheduled",
    "training.decided",
    "oversight.idle_notice",  # to a unit admin: an instrument idle 1, 3 or 6 months (seed 004)
)


class WeChatSettings(Section):
    env_prefix = "WECHAT_"

    app_id: str = ""
    app_secret: str = ""
    token: str = ""
    aes_key: str = ""
    # With an AES key, also accept plaintext pushes (WeChat's "compatible mode"). Off by default
    # and refused in production: a plaintext push is signed over the query string only, not its
    # body, so anyone who saw one signed URL could send any message within the replay window.
    compatible_mode: bool = False
    api_base_url: str = "https://api.weixin.qq.com"
    # The mini-program has its own app id and secret (empty: the official account's are used).
    miniprogram_app_id: str = ""
    miniprogram_app_secret: str = ""
    # The website application (网站应用, open.weixin.qq.com) for the console's QR sign-in; empty:
    # the console offers the password form only. Its users are found by unionid, so the website
    # application must sit on the same open-platform account as the official account/mini-program.
    web_app_id: str = ""
    web_app_secret: str = ""
    # Where the QR sign-in page is (qrconnect); tests point it at the local fake.
    open_base_url: str = "https://open.weixin.qq.com"
    # Outbox topic -> template id (official account) / subscribe-message template id (mini-program);
    # in the environment as JSON, e.g. YIXIANG_WECHAT_TEMPLATE_IDS='{"booking.confirmed": "abc"}'.
    template_ids: dict[str, str] = msgspec.field(default_factory=dict)
    subscribe_template_ids: dict[str, str] = msgspec.field(default_factory=dict)
    # The official account's custom menu as WeChat's JSON (empty: the built-in menu of the bot).
    menu: str = ""
    # Where links in bot messages point (H5 pages); empty: no links, text only.
    h5_base_url: str = ""
    # Where notifications go (bot/local_outbox.py): "wechat" (the API), "local" (the local outbox
    # on this machine, read with `yixiang bot outbox`), or "auto": local for an app whose
    # credentials are the public demo ones (no WeChat would take them), WeChat otherwise.
    notifications: Literal["auto", "wechat", "local"] = "auto"
    # This service as WeChat's browser reaches it (result downloads): links in messages must be
    # absolute to be tapped. Empty in production: the bot points to the mini-program instead.
    public_base_url: str = ""
    # What the bot answers to 人工 / 客服 / 投诉 when no instrument is in the conversation.
    service_desk: str = DEMO_SERVICE_DESK

    def resolve(self, settings: Settings) -> None:
        """Fill empty WeChat settings with the demo values, in the embedded profile only."""
        if not settings.is_embedded:
            return
        self.public_base_url = self.public_base_url or "http://127.0.0.1:8000"
        if not self.app_id:
            self.app_id = DEMO_APP_ID
            self.app_secret = self.app_secret or DEMO_APP_SECRET
        if not self.token:
            self.token = DEMO_TOKEN
            self.aes_key = self.aes_key or DEMO_AES_KEY
        if not self.miniprogram_app_id:
            self.miniprogram_app_id = DEMO_MINIPROGRAM_APP_ID
            self.miniprogram_app_secret = self.miniprogram_app_secret or DEMO_MINIPROGRAM_APP_SECRET
        for topic in NOTIFICATION_TOPICS:
            self.template_ids.setdefault(topic, "demo-tpl-" + topic)
            self.subscribe_template_ids.setdefault(topic, "demo-sub-" + topic)

    def problems(self, settings: Settings) -> list[str]:
        """Production talks to the real WeChat with the credentials it is given: a placeholder
        or a public demo value would fail every call, or, for the token, let anyone who read
        the README forge the official account's messages."""
        if settings.is_embedded:
            return []
        errors: list[str] = []
        if self.compatible_mode:
            errors.append(
                f"{env_name(self.setting_key('compatible_mode'))} cannot be enabled in production: "
                "plaintext pushes are not authenticated (use safe mode)"
            )
        for field in CREDENTIALS:
            value = getattr(self, field)
            if value and looks_like_placeholder(value):
                errors.append(
                    f"{env_name(self.setting_key(field))} is a placeholder or demo value: set the real one"
                )
        for field in ("app_id", "miniprogram_app_id", "web_app_id"):
            value = getattr(self, field)
            if value and not looks_like_placeholder(value) and not APP_ID.fullmatch(value):
                errors.append(
                    f"{env_name(self.setting_key(field))}={value!r} is not a WeChat app id (wx + 16 hex)"
                )
        if self.notifications == "local":
            errors.append(
                f"{env_name(self.setting_key('notifications'))}=local cannot be used in production: "
                "researchers would never get their notifications"
            )
        if self.app_id and (
            self.service_desk == DEMO_SERVICE_DESK or looks_like_placeholder(self.service_desk)
        ):
            errors.append(
                f"{env_name(self.setting_key('service_desk'))} is the demo text with a made-up number: "
                "say where the platform's service desk is"
            )
        if self.app_id and not self.app_secret:
            secret, app_id = env_name(self.setting_key("app_secret")), env_name(self.setting_key("app_id"))
            errors.append(f"{secret} is required with {app_id}")
        return errors

    def describe(self) -> dict[str, str]:
        official = "local outbox" if self.keeps_notifications_local(self.app_id) else "WeChat"
        mini = "local outbox" if self.keeps_notifications_local(self.miniprogram_credentials[0]) else "WeChat"
        return {"notifications": f"official account: {official}; mini-program: {mini}"}

    def keeps_notifications_local(self, app_id: str) -> bool:
        """Whether the notifications of this app (the official account's or the mini-program's
        id) go to the local outbox instead of WeChat."""
        if self.notifications == "auto":
            return app_id in DEMO_VALUES
        return self.notifications == "local"

    @property
    def miniprogram_credentials(self) -> tuple[str, str]:
        return (
            self.miniprogram_app_id or self.app_id,
            self.miniprogram_app_secret or self.app_secret,
        )


SECTIONS = (WeChatSettings,)
