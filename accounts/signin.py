"""Sign-in endpoints: password, refresh, sign-out, the embedded dev sign-in, and ``/me``."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, post
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import (
    MembershipView,
    Principal,
    TokenIssuer,
    TokenPair,
    load_user,
    requires_user,
    verify_password,
)
from accounts.models import RefreshToken, User
from yixiang.db import transaction, utcnow
from yixiang.errors import NotFound, Unauthenticated
from yixiang.locking import lock_row
from yixiang.ratelimit import RateLimited, rate_limit
from yixiang.schemas import Input, Output
from yixiang.settings import Settings

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class PasswordLogin(Input):
    username: Username
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class DevLogin(Input):
    username: Username


class RefreshRequest(Input):
    refresh_token: Annotated[str, msgspec.Meta(min_length=10, max_length=2000)]


class Me(Output):
    id: uuid.UUID
    username: str
    display_name: str
    memberships: list[MembershipView]


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]
    guards = [rate_limit("sign_in")]

    @post("/login", status_code=200, summary="Sign in with username and password (desk users)")
    async def login(self, data: PasswordLogin, db_session: AsyncSession, request: Request) -> TokenPair:
        issuer: TokenIssuer = request.app.state.token_issuer
        # Per account too: guessing one account's password from many addresses is still limited.
        limit = request.app.state.settings.rate_limit_sign_in_per_minute
        allowed, retry_after = await request.app.state.rate_limiter.hit(
            f"sign_in:account:{data.username.lower()}", limit
        )
        if not allowed:
            raise RateLimited(retry_after, limit_per_minute=limit)
        async with transaction(db_session):
            user = await db_session.scalar(select(User).where(User.username == data.username))
            if user is None or not user.is_active or not verify_password(user.password_hash, data.password):
                raise Unauthenticated("用户名或密码错误", reason="bad_credentials")
            return await issuer.issue(db_session, user)

    @post(
        "/dev-login", status_code=200, summary="Embedded/dev mode only: sign in as a demo account by username"
    )
    async def dev_login(self, data: DevLogin, db_session: AsyncSession, request: Request) -> TokenPair:
        settings: Settings = request.app.state.settings
        if not settings.dev_login_enabled:
            raise NotFound()
        issuer: TokenIssuer = request.app.state.token_issuer
        async with transaction(db_session):
            user = await db_session.scalar(select(User).where(User.username == data.username))
            if user is None or not user.is_active:
                raise NotFound("没有这个演示账号", username=data.username)
            return await issuer.issue(db_session, user)

    @post("/refresh", status_code=200, summary="Exchange a refresh token for a new token pair (rotates)")
    async def refresh(self, data: RefreshRequest, db_session: AsyncSession, request: Request) -> TokenPair:
        issuer: TokenIssuer = request.app.state.token_issuer
        claims = issuer.decode(data.refresh_token, "refresh")
        async with transaction(db_session):
            stored = await lock_row(db_session, RefreshToken, str(claims.get("jti")))
            if stored is None or stored.revoked_at is not None:
                raise Unauthenticated("登录已失效，请重新登录", reason="token_revoked")
            stored.revoked_at = utcnow()
            user = await load_user(db_session, stored.user_id)
            if user is None or not user.is_active:
                raise Unauthenticated("登录已失效，请重新登录", reason="token_revoked")
            return await issuer.issue(db_session, user)

    @post(
        "/logout",
        summary="Sign out everywhere: revokes every token of the user",
        guards=[requires_user],
        status_code=204,
    )
    async def logout(self, principal: Principal, db_session: AsyncSession) -> None:
        async with transaction(db_session):
            await db_session.execute(
                update(User).where(User.id == principal.user_id).values(token_version=User.token_version + 1)
            )
            await db_session.execute(
                update(RefreshToken)
                .where(RefreshToken.user_id == principal.user_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )


@get(
    "/api/v1/me",
    tags=["auth"],
    summary="The signed-in user and their organisations and roles",
    guards=[requires_user],
)
async def me(principal: Principal) -> Me:
    return Me(
        id=principal.user_id,
        username=principal.username,
        display_name=principal.display_name,
        memberships=list(principal.memberships),
    )
