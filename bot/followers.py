"""Who is behind a WeChat follower: follower records, unionid matching and one-time bind codes."""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, principal_from_user
from accounts.models import User
from bot.models import Follower
from yixiang.db import insert_ignoring_conflict, utcnow
from yixiang.errors import Conflict, InvalidInput
from yixiang.store import Store

log = logging.getLogger("bot.followers")

BIND_CODE_TTL_SECONDS = 10 * 60
BIND_ATTEMPTS_PER_WINDOW = 5
BIND_ATTEMPT_WINDOW_SECONDS = 10 * 60


class BindCodeInvalid(InvalidInput):
    code = "bind_code_invalid"
    message = "绑定码无效或已过期，请在小程序或网页重新获取"


class BindTooManyAttempts(Conflict):
    code = "bind_too_many_attempts"
    message = "尝试次数过多，请 10 分钟后再试"


async def ensure_follower(session: AsyncSession, openid: str, *, now: datetime | None = None) -> Follower:
    """The follower row for ``openid``, created on first contact (subscribed)."""
    await insert_ignoring_conflict(
        session,
        Follower,
        {
            "openid": openid,
            "subscribed": True,
            "subscribed_at": now or utcnow(),
            "created_at": utcnow(),
            "updated_at": utcnow(),
        },
        ["openid"],
    )
    follower = await session.get(Follower, openid, populate_existing=True)
    assert follower is not None
    return follower


async def principal_for(session: AsyncSession, follower: Follower | None) -> Principal | None:
    if follower is None or follower.user_id is None:
        return None
    user = await session.scalar(select(User).where(User.id == follower.user_id))
    if user is None or not user.is_active:
        return None
    return principal_from_user(user)


async def bind(session: AsyncSession, openid: str, user_id: uuid.UUID, *, how: str) -> Follower:
    """Link a follower to a user; a user has one follower, so an older link moves here."""
    await session.execute(
        update(Follower)
        .where(Follower.user_id == user_id, Follower.openid != openid)
        .values(user_id=None, bound_at=None, bound_by=None)
    )
    follower = await ensure_follower(session, openid)
    follower.user_id = user_id
    follower.bound_at = utcnow()
    follower.bound_by = how
    await session.flush()
    log.info("follower bound to user %s by %s", user_id, how)
    return follower


async def bind_by_unionid(session: AsyncSession, openid: str, unionid: str) -> bool:
    """Record a follower's unionid and bind it to the user with that unionid, if it is not bound yet."""
    follower = await ensure_follower(session, openid)
    follower.unionid = unionid
    if follower.user_id is not None:
        return False
    user_id = await session.scalar(select(User.id).where(User.wechat_unionid == unionid))
    if user_id is None:
        return False
    await bind(session, openid, user_id, how="unionid")
    return True


# --- one-time bind codes ---------------------------------------------------------------------
def _code_key(code: str) -> str:
    return f"bot:bind-code:{code}"


async def issue_bind_code(store: Store, user_id: uuid.UUID) -> str:
    """Six digits, valid ten minutes, single use; a new code replaces the user's previous one."""
    previous = await store.get(f"bot:bind-code-of:{user_id}")
    if previous:
        await store.delete(_code_key(previous.decode()))
    for _ in range(20):
        code = f"{secrets.randbelow(1_000_000):06d}"
        if await store.add(_code_key(code), str(user_id), ttl=BIND_CODE_TTL_SECONDS):
            await store.set(f"bot:bind-code-of:{user_id}", code, ttl=BIND_CODE_TTL_SECONDS)
            return code
    raise Conflict("绑定码生成失败，请重试", retry=True)


async def redeem_bind_code(store: Store, openid: str, code: str) -> uuid.UUID:
    """The user a code was issued to; the code is used up. Attempts per follower are limited."""
    attempts = await store.incr(f"bot:bind-attempts:{openid}", ttl=BIND_ATTEMPT_WINDOW_SECONDS)
    if attempts > BIND_ATTEMPTS_PER_WINDOW:
        raise BindTooManyAttempts()
    if not (len(code) == 6 and code.isdigit()):
        raise BindCodeInvalid()
    raw = await store.get(_code_key(code))
    # The first redeemer of a code wins, even if two messages race with it.
    if raw is None or not await store.add(_code_key(code) + ":used", openid, ttl=BIND_CODE_TTL_SECONDS):
        raise BindCodeInvalid()
    await store.delete(_code_key(code))
    user_id = uuid.UUID(raw.decode())
    await store.delete(f"bot:bind-code-of:{user_id}")
    return user_id
