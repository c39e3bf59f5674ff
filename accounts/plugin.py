"""Accounts as the shell sees them: sign-in, the signed-in principal, organisations and members."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from sqlalchemy import delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.audit_controllers import audit_search
from accounts.auth import JWTAuthMiddleware, TokenIssuer, provide_optional_principal, provide_principal
from accounts.controllers import AuthController, OrganizationController, me
from accounts.demo import ACCOUNTS, demo_id, load_accounts_demo
from accounts.models import RefreshToken, User
from accounts.regions import load_regions
from accounts.settings import AccountsSettings
from yixiang.db import utcnow
from yixiang.domains import Domain, JobContext
from yixiang.housekeeping import HOUSEKEEPING_TOPIC
from yixiang.outbox import Event
from yixiang.settings import Settings


def app_state(settings: Settings) -> Mapping[str, Any]:
    accounts = AccountsSettings.of(settings)
    issuer = TokenIssuer(settings.secret_key, accounts.access_token_minutes, accounts.refresh_token_days)
    return {"token_issuer": issuer}


async def has_users(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().where(User.id.is_not(None)))))


async def demo_accounts(session: AsyncSession) -> list[str]:
    """The usernames of the demo accounts in the database (by their stable ids or their names):
    they share a password published in the README."""
    names = [username for username, *_ in ACCOUNTS]
    found = await session.scalars(
        select(User.username)
        .where(or_(User.id.in_([demo_id(name) for name in names]), User.username.in_(names)))
        .order_by(User.username)
    )
    return list(found)


async def purge_expired_refresh_tokens(ctx: JobContext, event: Event) -> None:
    await ctx.session.execute(delete(RefreshToken).where(RefreshToken.expires_at < utcnow()))


DOMAIN = Domain(
    name="accounts",
    route_handlers=[AuthController, me, OrganizationController, audit_search],
    # /metrics checks its own bearer token (yixiang.metrics), which is no sign-in token
    middleware=[
        DefineMiddleware(JWTAuthMiddleware, exclude=["^/health$", "^/ready$", "^/metrics$", "^/schema"])
    ],
    dependencies={
        "principal": Provide(provide_principal, sync_to_thread=False),
        "maybe_principal": Provide(provide_optional_principal, sync_to_thread=False),
    },
    app_state=app_state,
    holds_records=has_users,
    demo_records=demo_accounts,
    consumers={HOUSEKEEPING_TOPIC: [purge_expired_refresh_tokens]},
    reference_loaders=[load_regions],
    demo_loaders=[load_accounts_demo],
)
