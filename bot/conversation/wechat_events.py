"""Events from WeChat: follow, unfollow and menu clicks."""

from __future__ import annotations

from sqlalchemy import update

from bot.conversation import help as help_intent
from bot.conversation.base import Reply, Turn
from bot.followers import ensure_follower
from bot.models import Follower
from yixiang.db import transaction, utcnow
from yixiang.outbox import emit

WELCOME = "欢迎关注仪享！在这里可以搜索大型科研仪器、在线预约、用创新券抵扣费用、查看检测结果。\n\n"

# Menu click keys (see bot/menu.py) -> the message they stand for.
CLICK_MESSAGES = {
    "YX_SEARCH": None,
    "YX_MY_BOOKINGS": "我的预约",
    "YX_VOUCHER": "券余额",
    "YX_RESULTS": "结果",
    "YX_BIND": "绑定",
    "YX_HELP": "帮助",
}
SEARCH_PROMPT = "请直接发送仪器名称或关键词，例如「核磁」「扫描电镜 杭州」「XRD」。"


async def handle(turn: Turn) -> Reply:
    event = turn.incoming.event.lower()
    if event == "subscribe":
        return await on_subscribe(turn)
    if event == "unsubscribe":
        await on_unsubscribe(turn)
        return Reply()  # nobody reads a reply to an unfollow
    if event == "click":
        key = turn.incoming.event_key
        if key not in CLICK_MESSAGES:
            return Reply()
        message = CLICK_MESSAGES[key]
        if message is None:
            return Reply(SEARCH_PROMPT)
        from bot.conversation.router import respond_to_text

        return await respond_to_text(turn, message)
    return Reply()  # VIEW, LOCATION, TEMPLATESENDJOBFINISH...: nothing to say


async def on_subscribe(turn: Turn) -> Reply:
    async with turn.session_maker() as session, transaction(session):
        follower = await ensure_follower(session, turn.openid, now=turn.now)
        follower.subscribed = True
        follower.subscribed_at = turn.now
        follower.unsubscribed_at = None
        # WeChat's user info gives the unionid (when the account shares an open platform with the
        # mini-program): a network call, so the worker does it, not this 5-second reply.
        await emit(
            session,
            "bot.follower_seen",
            {"openid": turn.openid},
            key=f"bot.follower_seen:{turn.openid}:{turn.incoming.key}",
        )
    turn.clear_flow()
    greeting = WELCOME + help_intent.HELP_TEXT
    if turn.principal is None and follower.user_id is None:
        greeting += "\n\n已有仪享账号？发送「绑定 123456」关联账号。"
    return Reply(greeting)


async def on_unsubscribe(turn: Turn) -> None:
    async with turn.session_maker() as session, transaction(session):
        await session.execute(
            update(Follower)
            .where(Follower.openid == turn.openid)
            .values(subscribed=False, unsubscribed_at=utcnow())
        )
    turn.clear_flow()
