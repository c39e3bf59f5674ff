"""The bot as the shell sees it: the webhook, WeChat sign-in, notification consumers, CLI commands."""

from __future__ import annotations

from typing import Any

from bot import cli, notify, signin, webhook
from bot.adapters import build_ports
from bot.config import apply_demo_wechat_settings, miniprogram_credentials
from bot.ports import SERVICE_KEY
from bot.wechat import WeChatGateway
from yixiang.domains import Domain


async def start(runtime: Any) -> None:
    settings = runtime.settings
    apply_demo_wechat_settings(settings)
    runtime.services[notify.OFFICIAL] = WeChatGateway(
        settings, runtime.store, app_id=settings.wechat_app_id, app_secret=settings.wechat_app_secret
    )
    mp_id, mp_secret = miniprogram_credentials(settings)
    runtime.services[notify.MINIPROGRAM] = WeChatGateway(
        settings, runtime.store, app_id=mp_id, app_secret=mp_secret
    )
    # The real domains behind the conversation's ports.
    runtime.services.setdefault(SERVICE_KEY, build_ports(runtime))


DOMAIN = Domain(
    name="bot",
    route_handlers=[*webhook.ROUTES, *signin.ROUTES],
    consumers=notify.CONSUMERS,
    on_startup=[start],
    cli_commands=cli.COMMANDS,
)
