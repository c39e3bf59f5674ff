"""Phone page of a user's personal data (PIPL): what the platform holds (download it as JSON),
consent to notifications (given or withdrawn, with when), and erasure with the answer saying what
was kept and why. The privacy domain's services decide; this page only shows them."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_user
from console import session as console_session
from console.pages import render
from console.phone import KEY_FIELD, new_key, once
from console.session import SESSION_COOKIE, session_cookie
from privacy import services
from privacy.controllers import export_response
from privacy.export import export_personal_data
from yixiang.db import transaction

PAGE = "/console/m/me"


@get("/m/me", summary="Phone: my personal data, consent to notifications, erasure", guards=[requires_user])
async def me_page(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template:
    consent = await services.consent(db_session, principal)
    return render(request, "m_me.html", consent=consent, key=new_key(), KEY_FIELD=KEY_FIELD)


@get(
    "/m/me/personal-data",
    summary="Phone: download everything the platform holds about me",
    guards=[requires_user],
)
async def download(principal: Principal, db_session: AsyncSession) -> Response[Any]:
    async with transaction(db_session, read_only=True):
        return export_response(await export_personal_data(db_session, principal))


@post(
    "/m/me/consent", summary="Phone: give or withdraw consent to notifications (once)", guards=[requires_user]
)
async def set_consent(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Redirect:
    given = str((await request.form()).get("given", "")) == "true"

    async def work() -> str:
        await services.set_consent(db_session, principal, given, "page")
        return "已同意接收微信通知" if given else "已撤回通知授权，将不再向您发送微信通知"

    return await once(request, principal, PAGE, work)


@post("/m/me/erasure", summary="Phone: erase my personal data", guards=[requires_user])
async def erase(request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession) -> Template:
    confirmed = str((await request.form()).get("confirm", "")) == "yes"
    done = await services.erase(db_session, principal, confirmed, request.app.state.settings)
    value = request.cookies.get(SESSION_COOKIE)
    if value:
        await console_session.sign_out(request.app.state.store, value)
    page = render(request, "m_erased.html", done=done)
    page.cookies.append(session_cookie("", max_age=0))
    return page


ROUTES = [me_page, download, set_consent, erase]
