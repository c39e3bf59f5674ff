"""Console sign-in: a server-side session named by an HttpOnly, Secure, SameSite cookie.

The password is checked by the accounts' own sign-in (same lockout as ``POST /auth/login``); the
session keeps the user id and token version, so signing out everywhere (or blocking the user)
ends console sessions too, and a per-session CSRF token that every form posts back. The session
lives in the app's store (Redis in production, memory in the embedded default) for a working day;
signing out deletes it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from litestar.datastructures import Cookie
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, load_principal
from accounts.models import User
from accounts.signin import password_sign_in
from yixiang.driver_statements import single_statements
from yixiang.errors import Forbidden
from yixiang.store import Store

SESSION_COOKIE = "yixiang_console"
# Before sign-in there is no session: the sign-in form's token is a cookie of its own (double submit).
SIGN_IN_COOKIE = "yixiang_console_signin"
SESSION_SECONDS = 10 * 3600  # a working day; then sign in again
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"
PATH = "/console"


class CsrfRefused(Forbidden):
    code = "csrf_refused"
    message = "表单已过期或来源不明，请刷新页面后重试"


@dataclass(frozen=True)
class ConsoleSession:
    key: str  # the store key (a hash of the cookie's value: the store never holds the cookie)
    user_id: uuid.UUID
    token_version: int
    csrf: str


def _store_key(cookie_value: str) -> str:
    return "console:session:" + hashlib.sha256(cookie_value.encode()).hexdigest()


def session_cookie(value: str, max_age: int = SESSION_SECONDS) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path=PATH,
        max_age=max_age,
        httponly=True,
        secure=True,
        samesite="lax",  # a link from a mail opens the console signed in; forms carry the CSRF token
    )


def sign_in_cookie(value: str) -> Cookie:
    return Cookie(
        key=SIGN_IN_COOKIE,
        value=value,
        path=PATH,
        max_age=3600,
        httponly=True,
        secure=True,
        samesite="strict",
    )


async def sign_in(
    session: AsyncSession,
    store: Store,
    limiter: Any,
    username: str,
    password: str,
    *,
    address: str,
    limit_per_minute: int,
) -> str:
    """Check the password as the API does; a new session's cookie value."""

    async def remember(_: AsyncSession, user: User) -> tuple[uuid.UUID, int]:
        return user.id, user.token_version

    user_id, version = await password_sign_in(
        session,
        limiter,
        username,
        password,
        address=address,
        limit_per_minute=limit_per_minute,
        issue=remember,
    )
    return await open_session(store, user_id, version)


async def open_session(store: Store, user_id: uuid.UUID, version: int) -> str:
    """A new console session of the user (signed in by password or WeChat): its cookie value."""
    value = secrets.token_urlsafe(32)
    record = {"user_id": str(user_id), "ver": version, "csrf": secrets.token_urlsafe(32)}
    await store.set(_store_key(value), json.dumps(record), ttl=SESSION_SECONDS)
    return value


async def find_session(store: Store, cookie_value: str) -> ConsoleSession | None:
    key = _store_key(cookie_value)
    raw = await store.get(key)
    if raw is None:
        return None
    record = json.loads(raw)
    return ConsoleSession(key, uuid.UUID(record["user_id"]), int(record["ver"]), str(record["csrf"]))


async def sign_out(store: Store, cookie_value: str) -> None:
    await store.delete(_store_key(cookie_value))


def csrf_matches(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def _cookie(scope: Scope, name: str) -> str | None:
    for header, value in scope["headers"]:
        if header == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, found = part.strip().partition("=")
                if key == name and found:
                    return found
    return None


class ConsoleSessionMiddleware:
    """Puts the session's principal (or nobody) in the scope of every console request.

    Console pages trust only their cookie: a bearer token sent to a page signs nobody in there.
    A session whose user signed out everywhere, was blocked or is gone is dropped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        principal: Principal | None = None
        found: ConsoleSession | None = None
        value = _cookie(scope, SESSION_COOKIE)
        state = scope["app"].state
        if value:
            found = await find_session(state.store, value)
            if found is not None:
                async with single_statements(state.engine) as conn:
                    principal = await load_principal(conn, found.user_id, found.token_version)
                if principal is None:
                    await state.store.delete(found.key)
                    found = None
        scope["user"] = principal
        scope["auth"] = found
        scope.setdefault("state", {})["console_sign_in_csrf"] = _cookie(scope, SIGN_IN_COOKIE)
        await self.app(scope, receive, send)


def current_session(scope: Scope) -> ConsoleSession | None:
    found = scope.get("auth")
    return found if isinstance(found, ConsoleSession) else None
