"""Signing in and out of the console, and the home page each desk role lands on."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_user
from accounts.models import STAFF_ROLES, Role
from booking.models import BookingStatus
from booking.queries import list_bookings
from bot.web_signin import web_sign_in_configured
from catalogue.models import PublicationStatus
from catalogue.services import unit_instruments
from console import session as console_session
from console.pages import DESK_ROLES, render
from console.phone import wechat_sign_in
from console.purchase_reviews import reader_menu
from console.session import SESSION_COOKIE, current_session, session_cookie, sign_in_cookie
from console.weeks import today_range
from vouchers.models import SettlementStatus
from vouchers.settlement_list import SettlementFilter, list_settlements
from yixiang.db import transaction
from yixiang.errors import DomainError
from yixiang.ratelimit import client_address, rate_limit


def safe_next(target: str | None) -> str:
    """Only a console page (never another host, ``//evil``, or a scheme) after signing in."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console"


@get("/login", summary="Console: the sign-in form")
async def sign_in_form(request: Request[Any, Any, Any], next: str | None = None) -> Template | Redirect:
    if request.scope.get("user") is not None:
        return Redirect(path=safe_next(next), status_code=303)
    token = request.scope["state"].get("console_sign_in_csrf") or secrets.token_urlsafe(32)
    inside_wechat = wechat_sign_in(request, safe_next(next), token)
    if inside_wechat is not None:
        return inside_wechat
    page = render(
        request,
        "login.html",
        sign_in_csrf=token,
        next=safe_next(next),
        username="",
        error=None,
        wechat=web_sign_in_configured(request.app.state.settings),
    )
    page.cookies.append(sign_in_cookie(token))
    return page


@post(
    "/login",
    summary="Console: sign in with username and password",
    opt={"csrf": "sign_in"},
    guards=[rate_limit("sign_in")],
)
async def sign_in(request: Request[Any, Any, Any], db_session: AsyncSession) -> Template | Redirect:
    form = await request.form()
    username, password = str(form.get("username", ""))[:64], str(form.get("password", ""))[:200]
    state = request.app.state
    try:
        value = await console_session.sign_in(
            db_session,
            state.store,
            state.rate_limiter,
            username,
            password,
            address=client_address(request),
            limit_per_minute=state.settings.rate_limit_sign_in_per_minute,
        )
    except DomainError as exc:
        token = request.scope["state"].get("console_sign_in_csrf") or ""
        return render(
            request,
            "login.html",
            status_code=exc.status,
            sign_in_csrf=token,
            next=safe_next(str(form.get("next", ""))),
            username=username,
            error=exc.message,
            wechat=web_sign_in_configured(state.settings),
        )
    # a new session on every sign-in; one this browser had before ends (no session fixation)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        await console_session.sign_out(state.store, previous)
    return Redirect(
        path=safe_next(str(form.get("next", ""))),
        status_code=303,
        cookies=[session_cookie(value), sign_in_cookie("")],
    )


@post("/logout", summary="Console: sign out (this session)", guards=[requires_user])
async def sign_out(request: Request[Any, Any, Any]) -> Redirect:
    value = request.cookies.get(SESSION_COOKIE)
    if value and current_session(request.scope) is not None:
        await console_session.sign_out(request.app.state.store, value)
    return Redirect(path="/console/login", status_code=303, cookies=[session_cookie("", max_age=0)])


@get("/", summary="Console: the home page of the signed-in desk user", guards=[requires_user])
async def home(
    request: Request[Any, Any, Any], principal: Principal, db_session: AsyncSession
) -> Template | Redirect:
    if not principal.has_role(*DESK_ROLES):
        # a review expert without a desk role has one page here: the region's purchase reviews
        async with transaction(db_session, read_only=True):
            await reader_menu(db_session, principal)
        return Redirect(path="/console/purchase-reviews", status_code=303)
    cards: list[dict[str, Any]] = []
    if principal.has_role(*STAFF_ROLES):
        start, end = today_range()
        for unit_id in sorted(principal.unit_ids):
            _, today = await list_bookings(
                db_session, principal, unit_id=unit_id, starts_from=start, starts_before=end, limit=1
            )
            _, waiting = await list_bookings(
                db_session, principal, unit_id=unit_id, status=BookingStatus.requested, limit=1
            )
            async with transaction(db_session, read_only=True):
                _, pending = await unit_instruments(
                    db_session,
                    principal,
                    unit_id=unit_id,
                    publication=PublicationStatus.pending,
                    offset=0,
                    limit=1,
                )
            name = next(m.organization_name for m in principal.memberships if m.organization_id == unit_id)
            cards.append(
                {
                    "title": name,
                    "lines": [
                        ("今日机时预约", today, f"/console/bookings?when=today&unit={unit_id}"),
                        ("待审批", waiting, f"/console/bookings?status=requested&when=all&unit={unit_id}"),
                        ("待发布仪器", pending, f"/console/instruments?publication=pending&unit={unit_id}"),
                    ],
                }
            )
    if principal.has_role(Role.bureau_officer, Role.platform_admin):
        async with transaction(db_session, read_only=True):
            submitted = await list_settlements(
                db_session, principal, SettlementFilter(status=SettlementStatus.submitted), limit=1, offset=0
            )
            drafts = await list_settlements(
                db_session, principal, SettlementFilter(status=SettlementStatus.draft), limit=1, offset=0
            )
        cards.append(
            {
                "title": "兑付",
                "lines": [
                    ("待审批批次", submitted.total, "/console/settlements?status=submitted"),
                    ("草稿批次", drafts.total, "/console/settlements?status=draft"),
                ],
            }
        )
    return render(request, "home.html", cards=cards)


ROUTES = [sign_in_form, sign_in, sign_out, home]
