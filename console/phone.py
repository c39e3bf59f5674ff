"""What the phone pages (``/console/m``) share: a form action done once however often it is
tapped, and signing in through WeChat's web authorisation inside WeChat's browser.

A double tap sends a form twice. Each phone form carries a key made when the page was drawn
(``idem``); the first request with it claims it in the store and runs, a second waits for the
first and is answered with the same outcome (the same page and message), so a booking is made
once. Outside WeChat the pages sign in with the console's password form.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import uuid
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from bot.dependencies import OFFICIAL_ACCOUNT
from bot.settings import WeChatSettings
from bot.signin import oauth_identity, user_for_follower
from console import session as console_session
from console.pages import Work, back_to, outcome, render
from console.session import SESSION_COOKIE, session_cookie, sign_in_cookie
from yixiang.db import transaction
from yixiang.errors import DomainError, InvalidInput, Unauthenticated

KEY_FIELD = "idem"
KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
RUNNING = b"running"
CLAIM_SECONDS = 60  # a request that died frees its key after this
REMEMBER_SECONDS = 24 * 3600
WAIT_STEPS, WAIT_STEP_SECONDS = 150, 0.1  # how long a second tap waits for the first (15 s)
AUTHORIZE = "https://open.weixin.qq.com/connect/oauth2/authorize"
OAUTH_PATH = "/console/m/oauth"


def new_key() -> str:
    """The key a phone form carries (one per drawn page)."""
    return secrets.token_urlsafe(24)


async def once(request: Request[Any, Any, Any], principal: Principal, back: str, work: Work) -> Redirect:
    """Run the form's action once per key; a repeat gets the first one's outcome."""
    key = str((await request.form()).get(KEY_FIELD, ""))
    if not KEY.match(key):
        raise InvalidInput("页面已过期，请刷新后重试", field=KEY_FIELD)
    store = request.app.state.store
    name = f"console:once:{principal.user_id}:{request.url.path}:{key}"
    if not await store.add(name, RUNNING, ttl=CLAIM_SECONDS):
        for _ in range(WAIT_STEPS):
            raw = await store.get(name)
            if raw is None:
                break  # the first one failed: nothing was done
            if raw != RUNNING:
                kind, text, where = json.loads(raw)
                return back_to(where, **{kind: text})
            await asyncio.sleep(WAIT_STEP_SECONDS)
        return back_to(back, error="上一次提交仍在处理，请稍后刷新页面查看结果")
    try:
        done = await outcome(back, work)
    except BaseException:
        await store.delete(name)
        raise
    await store.set(name, json.dumps(done), ttl=REMEMBER_SECONDS)
    kind, text, where = done
    return back_to(where, **{kind: text})


# --- WeChat's web authorisation -----------------------------------------------------------------
def is_phone_page(path: str) -> bool:
    return (path == "/console/m" or path.startswith(("/console/m/", "/console/m?"))) and "\\" not in path


def in_wechat(request: Request[Any, Any, Any]) -> bool:
    return "MicroMessenger" in request.headers.get("user-agent", "")


def wechat_sign_in(request: Request[Any, Any, Any], next_page: str, state: str) -> Redirect | None:
    """Inside WeChat, a phone page's sign-in is WeChat's authorisation page (the user's openid,
    silently: ``snsapi_base``); elsewhere None (the password form)."""
    wechat = WeChatSettings.of(request.app.state.settings)
    if not (is_phone_page(next_page) and in_wechat(request) and wechat.app_id):
        return None
    base = (wechat.public_base_url or str(request.base_url)).rstrip("/")
    back = f"{base}{OAUTH_PATH}?next={quote(next_page, safe='/')}"
    query = urlencode(
        {"appid": wechat.app_id, "redirect_uri": back, "response_type": "code", "scope": "snsapi_base"}
    )
    target = f"{AUTHORIZE}?{query}&state={state}#wechat_redirect"
    return Redirect(path=target, status_code=303, cookies=[sign_in_cookie(state)])


@get("/m/oauth", summary="Phone: WeChat's web authorisation comes back here (?code=&state=)")
async def oauth_return(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    code: Annotated[str, Parameter(max_length=256)] = "",
    returned: Annotated[str, Parameter(query="state", max_length=200)] = "",
    next: Annotated[str, Parameter(max_length=500)] = "",
) -> Redirect | Template:
    expected = request.scope["state"].get("console_sign_in_csrf")
    try:
        if not code or not console_session.csrf_matches(expected, returned):
            raise Unauthenticated("微信授权已过期，请从公众号菜单重新打开页面")
        openid, unionid = await oauth_identity(request.app.state.services[OFFICIAL_ACCOUNT], code)
        async with transaction(db_session):
            user = await user_for_follower(db_session, openid, unionid)
            user_id, version = user.id, user.token_version
    except DomainError as exc:  # a page, not the sign-in again (inside WeChat: a loop)
        return render(
            request, "error.html", status_code=exc.status, title="微信登录未成功", message=exc.message
        )
    store = request.app.state.store
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        await console_session.sign_out(store, previous)
    value = await console_session.start_session(store, user_id, version)
    target = next if is_phone_page(next) else "/console/m"
    return Redirect(path=target, status_code=303, cookies=[session_cookie(value), sign_in_cookie("")])


def booking_page(booking_id: uuid.UUID | str) -> str:
    return f"/console/m/bookings/{booking_id}"


ROUTES = [oauth_return]
