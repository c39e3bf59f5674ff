"""Authentication (bearer JWTs, password hashes) and authorisation (role and ownership guards).

Access tokens are short-lived JWTs carrying the user id and the user's token version; a refresh
token (also a JWT, its id stored server-side) rotates on use. Bumping ``User.token_version``
revokes every token of the user at once.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any

import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from accounts.models import (
    BOOKER_ROLES,
    STAFF_ROLES,
    Membership,
    Organization,
    OrgKind,
    RefreshToken,
    Role,
    User,
)
from yixiang.db import utcnow
from yixiang.driver_statements import DriverStatement, Target, single_statements
from yixiang.errors import Forbidden, Unauthenticated

_hasher = PasswordHasher()
ALGORITHM = "HS256"
VERIFIED_TOKENS_KEPT = 10_000


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class MembershipView(msgspec.Struct, frozen=True):
    organization_id: uuid.UUID
    organization_kind: OrgKind
    organization_name: str
    role: Role
    region_code: str
    parent_id: uuid.UUID | None = None  # the unit a firm is affiliated to (internal rates)


class Principal(msgspec.Struct, frozen=True):
    """The signed-in user as the rules see it."""

    user_id: uuid.UUID
    username: str
    display_name: str
    memberships: tuple[MembershipView, ...]

    def has_role(self, *roles: Role) -> bool:
        return any(m.role in roles for m in self.memberships)

    def orgs_where(self, *roles: Role) -> set[uuid.UUID]:
        return {m.organization_id for m in self.memberships if m.role in roles}

    def parent_of(self, organization_id: uuid.UUID) -> uuid.UUID | None:
        """The unit an organisation of the user's is affiliated to, if any."""
        return next((m.parent_id for m in self.memberships if m.organization_id == organization_id), None)

    def regions_where(self, *roles: Role) -> set[str]:
        return {m.region_code for m in self.memberships if m.role in roles}

    @property
    def is_platform_admin(self) -> bool:
        return self.has_role(Role.platform_admin)

    @property
    def enterprise_ids(self) -> set[uuid.UUID]:
        """Organisations on whose behalf this user books and pays."""
        return self.orgs_where(*BOOKER_ROLES)

    @property
    def unit_ids(self) -> set[uuid.UUID]:
        """Holding units whose instruments this user manages."""
        return self.orgs_where(*STAFF_ROLES)

    def require(self, *roles: Role) -> None:
        if not self.has_role(*roles):
            raise Forbidden(required_roles=[r.value for r in roles])

    def require_member(self, organization_id: uuid.UUID, *roles: Role) -> None:
        """Ownership guard: the user must hold one of ``roles`` in that very organisation."""
        if organization_id not in self.orgs_where(*roles):
            raise Forbidden()


def principal_from_user(user: User) -> Principal:
    return _principal(
        user.id,
        user.username,
        user.display_name,
        (
            (
                m.organization_id,
                m.organization.kind,
                m.organization.name,
                m.role,
                m.organization.region_code,
                m.organization.parent_id,
            )
            for m in user.memberships
        ),
    )


def _principal(
    user_id: uuid.UUID, username: str, display_name: str, memberships: Iterable[Sequence[Any]]
) -> Principal:
    """``memberships``: (organization id, kind, name, role, region code, parent id) each."""
    return Principal(
        user_id=user_id,
        username=username,
        display_name=display_name,
        memberships=tuple(MembershipView(*m) for m in memberships),
    )


class TokenPair(msgspec.Struct):
    token: str
    refresh_token: str
    token_type: str
    expires_in: int


class TokenIssuer:
    def __init__(self, secret: str, access_minutes: int, refresh_days: int) -> None:
        self._secret = secret
        self.access_ttl = timedelta(minutes=access_minutes)
        self.refresh_ttl = timedelta(days=refresh_days)
        self._verified: dict[str, dict[str, Any]] = {}

    def encode(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str, expected_type: str) -> dict[str, Any]:
        # A token whose signature was checked once is remembered by its exact text (which
        # includes the signature): every request carries one, and verifying costs more than
        # the rest of authentication. Only the expiry is checked again.
        claims = self._verified.get(token)
        if claims is not None and claims["exp"] <= time.time():
            raise Unauthenticated("登录已过期，请重新登录", reason="token_expired")
        if claims is None:
            try:
                claims = jwt.decode(
                    token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "typ"]}
                )
            except jwt.ExpiredSignatureError as exc:
                raise Unauthenticated("登录已过期，请重新登录", reason="token_expired") from exc
            except jwt.PyJWTError as exc:
                raise Unauthenticated("登录凭证无效", reason="token_invalid") from exc
            if len(self._verified) >= VERIFIED_TOKENS_KEPT:
                self._verified.clear()
            self._verified[token] = claims
        if claims.get("typ") != expected_type:
            raise Unauthenticated("登录凭证无效", reason="token_invalid")
        return claims

    async def issue(self, session: AsyncSession, user: User) -> TokenPair:
        """Issue an access token and a stored refresh token; the caller commits."""
        now = utcnow()
        access = self.encode(
            {
                "sub": str(user.id),
                "typ": "access",
                "ver": user.token_version,
                "iat": now,
                "exp": now + self.access_ttl,
            }
        )
        jti = secrets.token_urlsafe(24)
        refresh = self.encode(
            {"sub": str(user.id), "typ": "refresh", "jti": jti, "iat": now, "exp": now + self.refresh_ttl}
        )
        session.add(RefreshToken(jti=jti, user_id=user.id, expires_at=now + self.refresh_ttl))
        return TokenPair(
            token=access,
            refresh_token=refresh,
            token_type="Bearer",
            expires_in=int(self.access_ttl.total_seconds()),
        )


async def load_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user with memberships and their organisations, in one query (runs on every request)."""
    rows = await session.scalars(select(User).where(User.id == user_id).options(joinedload(User.memberships)))
    return rows.unique().first()


# Every authenticated request runs it: plain columns, built once, no ORM objects.
_PRINCIPAL_ROWS = DriverStatement(
    select(
        User.id,
        User.username,
        User.display_name,
        User.is_active,
        User.token_version,
        Membership.organization_id,
        Organization.kind,
        Organization.name,
        Membership.role,
        Organization.region_code,
        Organization.parent_id,
    )
    .outerjoin(Membership, Membership.user_id == User.id)
    .outerjoin(Organization, Organization.id == Membership.organization_id)
    .where(User.id == bindparam("p_user"))
)


async def load_principal(conn: Target, user_id: uuid.UUID, token_version: Any) -> Principal | None:
    """The signed-in user as a Principal, or None if unknown, deactivated or signed out since."""
    rows = await _PRINCIPAL_ROWS.all(conn, {"p_user": user_id})
    if not rows or not rows[0].is_active or rows[0].token_version != token_version:
        return None
    first = rows[0]
    # columns 5-10 are a membership's, in MembershipView's order (absent without memberships)
    return _principal(
        first.id, first.username, first.display_name, (r[5:11] for r in rows if r[5] is not None)
    )


class JWTAuthMiddleware(AbstractAuthenticationMiddleware):
    """Resolves ``Authorization: Bearer`` to a :class:`Principal`; anonymous requests pass through.

    Routes that need a user say so with a guard; search and the WeChat webhook are public.
    """

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        if not header:
            return AuthenticationResult(user=None, auth=None)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("登录凭证无效", reason="token_invalid")
        issuer: TokenIssuer = connection.app.state.token_issuer
        claims = issuer.decode(token.strip(), "access")
        try:
            user_id = uuid.UUID(claims["sub"])
        except ValueError as exc:
            raise Unauthenticated("登录凭证无效", reason="token_invalid") from exc
        async with single_statements(connection.app.state.engine) as conn:
            principal = await load_principal(conn, user_id, claims.get("ver"))
        if principal is None:
            raise Unauthenticated("登录已失效，请重新登录", reason="token_revoked")
        return AuthenticationResult(user=principal, auth=claims)


def current_principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    user = connection.scope.get("user")
    return user if isinstance(user, Principal) else None


# Guards are coroutines although they never wait: Litestar runs a plain function guard in its
# thread pool, a thread hop on every request for a dictionary lookup.
async def requires_user(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if current_principal(connection) is None:
        raise Unauthenticated()


def requires_role(
    *roles: Role,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    """Guard: the user holds at least one of ``roles`` somewhere (ownership is checked by services)."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = current_principal(connection)
        if principal is None:
            raise Unauthenticated()
        principal.require(*roles)

    guard.__name__ = "requires_" + "_or_".join(r.value for r in roles)
    return guard


# The principal providers name ``db_session`` only to be resolved after it, not beside it:
# Litestar resolves sibling dependencies concurrently in an anyio task group (litestar#4563),
# which costs more than resolving both (~0.2 ms a request here). The routes that name the
# principal nearly all name the session too; the session opens no connection until used.
def provide_principal(request: Request[Any, Any, Any], db_session: AsyncSession) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise Unauthenticated()
    return principal


def provide_optional_principal(request: Request[Any, Any, Any], db_session: AsyncSession) -> Principal | None:
    return current_principal(request)
