"""Signing in and out: password, the embedded demo sign-in, refresh-token rotation, sign-out
everywhere. Each returns what the client keeps (a token pair) or raises an error it can show."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import TokenIssuer, TokenPair, load_user, verify_password
from accounts.models import RefreshToken, User
from yixiang.db import transaction, utcnow
from yixiang.errors import NotFound, Unauthenticated
from yixiang.locking import lock_row
from yixiang.ratelimit import RateLimited, RateLimiter

# How long a successful sign-in makes its address known to the account.
KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600
T = TypeVar("T")


async def sign_in_with_password(
    session: AsyncSession,
    issuer: TokenIssuer,
    limiter: RateLimiter,
    username: str,
    password: str,
    *,
    address: str,
    limit_per_minute: int,
) -> TokenPair:
    """Sign in for the API: a token pair, within the lockout of :func:`password_sign_in`."""
    return await password_sign_in(
        session,
        limiter,
        username,
        password,
        address=address,
        limit_per_minute=limit_per_minute,
        issue=issuer.issue,
    )


async def password_sign_in(
    session: AsyncSession,
    limiter: RateLimiter,
    username: str,
    password: str,
    *,
    address: str,
    limit_per_minute: int,
    issue: Callable[[AsyncSession, User], Awaitable[T]],
) -> T:
    """Sign in, within the lockout: at most ``limit_per_minute`` attempts a minute on one account
    from one address, and — from addresses that have not signed in to it before — on the account
    as a whole. Guessing from many addresses is slowed to that rate, yet it cannot lock the owner
    out: their usual address is counted apart. An attempt over a limit is refused before the
    password is looked at, so a guess that happens to be right tells the guesser nothing."""
    account = username.lower()
    known = f"sign_in:known:{account}:{address}"
    buckets = [f"sign_in:account:{account}:ip:{address}"]
    if not await limiter.recalls(known):
        buckets.append(f"sign_in:account:{account}")
    allowed, retry_after = await limiter.hit_all(buckets, limit_per_minute)
    if not allowed:
        raise RateLimited(retry_after, limit_per_minute=limit_per_minute)
    async with transaction(session):
        user = await session.scalar(select(User).where(User.username == username))
        if user is None or not user.is_active or not verify_password(user.password_hash, password):
            raise Unauthenticated("用户名或密码错误", reason="bad_credentials")
        # what the caller keeps: the API's token pair, the console's session
        signed_in = await issue(session, user)
    await limiter.remember(known, KNOWN_ADDRESS_SECONDS)
    return signed_in


async def sign_in_as_demo_account(
    session: AsyncSession, issuer: TokenIssuer, username: str, *, enabled: bool
) -> TokenPair:
    if not enabled:
        raise NotFound()
    async with transaction(session):
        user = await session.scalar(select(User).where(User.username == username))
        if user is None or not user.is_active:
            raise NotFound("没有这个演示账号", username=username)
        return await issuer.issue(session, user)


async def refresh(session: AsyncSession, issuer: TokenIssuer, refresh_token: str) -> TokenPair:
    """A new token pair for a refresh token, which is spent: a second use is refused."""
    claims = issuer.decode(refresh_token, "refresh")
    async with transaction(session):
        stored = await lock_row(session, RefreshToken, str(claims.get("jti")))
        if stored is None or stored.revoked_at is not None:
            raise Unauthenticated("登录已失效，请重新登录", reason="token_revoked")
        stored.revoked_at = utcnow()
        user = await load_user(session, stored.user_id)
        if user is None or not user.is_active:
            raise Unauthenticated("登录已失效，请重新登录", reason="token_revoked")
        return await issuer.issue(session, user)


async def sign_out_everywhere(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Revoke every token of the user: access tokens by version, refresh tokens by mark."""
    async with transaction(session):
        await session.execute(
            update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
        )
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
