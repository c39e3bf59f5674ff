"""绑定 123456: link this WeChat follower to the platform account that requested the code."""

from __future__ import annotations

import re

from accounts.models import User
from bot.conversation.base import Reply, Turn
from bot.followers import bind, redeem_bind_code
from yixiang.db import transaction

HOW_TO = "请在仪享小程序或网页登录后，于「我的 → 绑定公众号」获取 6 位绑定码，然后发送「绑定 123456」。"


async def handle(turn: Turn, rest: str) -> Reply:
    digits = "".join(re.findall(r"\d", rest))
    if not digits:
        if turn.principal is not None:
            return Reply(f"您已绑定账号：{turn.principal.display_name}。如需更换，{HOW_TO}")
        return Reply(HOW_TO)
    user_id = await redeem_bind_code(turn.store, turn.openid, digits)
    async with turn.session_maker() as session, transaction(session):
        await bind(session, turn.openid, user_id, how="bind_code")
        user = await session.get(User, user_id)
        name = user.display_name if user else ""
    turn.clear_flow()
    return Reply(f"绑定成功，欢迎您，{name}！现在可以预约仪器、查看预约和创新券了。发送「帮助」查看用法。")
