"""The bot as the shell sees it: the webhook, WeChat sign-in, notification consumers (its commands:
``bot.cli``)."""

from __future__ import annotations

from typing import Any

from bot import local_outbox, notify, signin, webhook
from bot.adapters import build_ports
from bot.dependencies import DEPENDENCIES, MINIPROGRAM, OFFICIAL_ACCOUNT
from bot.ports import SERVICE_KEY
from bot.settings import WeChatSettings
from bot.wechat import WeChatGateway
from yixiang.domains import Domain


async def start(runtime: Any) -> None:
    settings = runtime.settings
    wechat = WeChatSettings.of(settings)
    runtime.services[OFFICIAL_ACCOUNT] = WeChatGateway(
        settings, runtime.store, app_id=wechat.app_id, app_secret=wechat.app_secret
    )
    mp_id, mp_secret = wechat.miniprogram_credentials
    runtime.services[MINIPROGRAM] = WeChatGateway(settings, runtime.store, app_id=mp_id, app_secret=mp_secret)
    # The real domains behind the conversation's ports.
    runtime.services.setdefault(SERVICE_KEY, build_ports(runtime))


DOMAIN = Domain(
    name="bot",
    route_handlers=[*webhook.ROUTES, *signin.ROUTES, *local_outbox.ROUTES],
    consumers=notify.CONSUMERS,
    on_startup=[start],
    dependencies=DEPENDENCIES,
)
