"""What the bot registers at start-up: its two WeChat gateways, and how its routes receive them."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Dependency

from bot.wechat import WeChatGateway
from yixiang.registry import ServiceKey, provide

# What a route names to receive it. The service is not a request value: Litestar need not
# validate it (nor could it check a Protocol).
WeChatGatewayDependency = Annotated[WeChatGateway, Dependency(skip_validation=True)]

OFFICIAL_ACCOUNT: ServiceKey[WeChatGateway] = ServiceKey("bot.wechat")
MINIPROGRAM: ServiceKey[WeChatGateway] = ServiceKey("bot.wechat_miniprogram")
# How long the webhook waits for a reply before answering "success" and pushing the reply later
# (WeChat gives up after 5 s); tests shorten it.
REPLY_BUDGET: ServiceKey[float] = ServiceKey("bot.reply_budget_seconds")


DEPENDENCIES = {"official_account": provide(OFFICIAL_ACCOUNT), "miniprogram": provide(MINIPROGRAM)}
