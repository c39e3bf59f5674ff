"""The console's WeChat QR sign-in (网站应用 微信登录): the browser goes to WeChat's qrconnect page,
the desk user scans it with WeChat and confirms, WeChat sends the browser back with a code, and the
code is exchanged (``sns/oauth2/access_token``, scope ``snsapi_login``) for the person's unionid.

A website application's openid is its own; only the unionid is shared with the official account
and the mini-program, so the desk user is the one whose WeChat (by unionid) is already bound:
signed in through the mini-program, or followed the official account and bound there.
"""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import User
from bot.models import Follower
from bot.settings import WeChatSettings
from bot.signin import WeChatCodeInvalid, WeChatNotBound, exchange_code
from bot.wechat import WeChatGateway
from yixiang.errors import Unauthenticated
from yixiang.settings import Settings
from yixiang.store import Store


class WeChatAccountInactive(Unauthenticated):
    code = "account_inactive"
    message = "账号已停用"


def web_sign_in_configured(settings: Settings) -> bool:
    wechat = WeChatSettings.of(settings)
    return bool(wechat.web_app_id and wechat.web_app_secret)


def qrconnect_url(settings: Settings, redirect_uri: str, state: str) -> str:
    """WeChat's QR page for the website application; it comes back to ``redirect_uri``."""
    wechat = WeChatSettings.of(settings)
    query = urlencode(
        {
            "appid": wechat.web_app_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "snsapi_login",
            "state": state,
        }
    )
    return f"{wechat.open_base_url.rstrip('/')}/connect/qrconnect?{query}#wechat_redirect"


async def user_by_qr_code(session: AsyncSession, settings: Settings, store: Store, code: str) -> User:
    """The active user whose WeChat scanned the code (by unionid); refused when none is bound."""
    wechat = WeChatSettings.of(settings)
    gateway = WeChatGateway(settings, store, app_id=wechat.web_app_id, app_secret=wechat.web_app_secret)
    result = await exchange_code(gateway, "oauth", code)
    unionid = str(result.get("unionid") or "")
    if not str(result.get("openid") or ""):
        raise WeChatCodeInvalid()
    if not unionid:
        raise WeChatNotBound()
    followers = select(Follower.user_id).where(Follower.unionid == unionid, Follower.user_id.is_not(None))
    user = await session.scalar(
        select(User).where(or_(User.wechat_unionid == unionid, User.id.in_(followers))).limit(1)
    )
    if user is None:
        raise WeChatNotBound()
    if not user.is_active:
        raise WeChatAccountInactive()
    return user
