"""Signing in to the console with WeChat's QR code, where a website application is configured:
``/console/login/wechat`` sends the browser to WeChat's qrconnect page with a one-time state (kept
in a short-lived cookie), and WeChat sends it back to ``/console/login/wechat/callback`` with a code
for the person who scanned (``bot.web_signin`` finds them by unionid)."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, get
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import WeChatSettings
from bot.web_signin import qrconnect_url, user_by_qr_code, web_sign_in_configured
from console import session as console_session
from console.desk import safe_next
from console.pages import render
from console.session import PATH, SESSION_COOKIE, session_cookie
from yixiang.db import transaction
from yixiang.errors import DomainError, NotFound
from yixiang.ratelimit import rate_limit

STATE_COOKIE = "yixiang_console_wechat_state"
STATE_SECONDS = 600  # time to scan and confirm


def state_cookie(value: str, max_age: int = STATE_SECONDS) -> Cookie:
    # Lax, not Strict: WeChat brings the browser back from its own site, a cross-site navigation.
    return Cookie(
        key=STATE_COOKIE, value=value, path=PATH, max_age=max_age, httponly=True, secure=True, samesite="lax"
    )


def _callback_url(request: Request[Any, Any, Any]) -> str:
    base = WeChatSettings.of(request.app.state.settings).public_base_url or str(request.base_url)
    return base.rstrip("/") + "/console/login/wechat/callback"


@get("/login/wechat", summary="Console: sign in with WeChat's QR code (to WeChat's page)")
async def to_wechat(request: Request[Any, Any, Any], next: str | None = None) -> Redirect:
    settings = request.app.state.settings
    if not web_sign_in_configured(settings):
        raise NotFound("未启用微信扫码登录")
    state = secrets.token_urlsafe(24)
    return Redirect(
        path=qrconnect_url(settings, _callback_url(request), state),
        status_code=303,
        cookies=[state_cookie(f"{state}|{safe_next(next)}")],
    )


@get(
    "/login/wechat/callback",
    summary="Console: WeChat's QR sign-in comes back here with a code",
    guards=[rate_limit("sign_in")],
)
async def from_wechat(request: Request[Any, Any, Any], db_session: AsyncSession) -> Template | Redirect:
    settings = request.app.state.settings
    # ``state`` is a name Litestar keeps for the app's state: read both from the query string
    code, state = request.query_params.get("code", ""), request.query_params.get("state", "")
    if not web_sign_in_configured(settings):
        raise NotFound("未启用微信扫码登录")
    kept, _, target = request.cookies.get(STATE_COOKIE, "").partition("|")
    expired = [state_cookie("", max_age=0)]

    def refused(message: str, status: int) -> Template:
        page = render(
            request,
            "login.html",
            status_code=status,
            sign_in_csrf=request.scope["state"].get("console_sign_in_csrf") or "",
            next=safe_next(target),
            username="",
            error=message,
            wechat=True,
        )
        page.cookies.extend(expired)
        return page

    # The state proves this browser started the sign-in (no one else's code is slipped in).
    if not code or not state or not kept or not secrets.compare_digest(kept, state[:100]):
        return refused("扫码登录已过期或不是从本页发起，请重新扫码", 400)
    try:
        async with transaction(db_session, read_only=True):
            user = await user_by_qr_code(db_session, settings, request.app.state.store, code[:256])
    except DomainError as exc:
        return refused(exc.message, exc.status)
    store = request.app.state.store
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # a new session on every sign-in (no session fixation)
        await console_session.sign_out(store, previous)
    value = await console_session.start_session(store, user.id, user.token_version)
    return Redirect(path=safe_next(target), status_code=303, cookies=[session_cookie(value), *expired])


ROUTES = [to_wechat, from_wechat]
