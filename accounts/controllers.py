"""The accounts API: sign-in, ``/me``, organisations and their members."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import signin
from accounts.auth import Principal, TokenPair, requires_user
from accounts.organizations import add_member, get_organization, list_members, remove_member
from accounts.schemas import DevLogin, Me, MemberIn, MemberOut, OrganizationOut, PasswordLogin, RefreshRequest
from accounts.settings import AccountsSettings
from yixiang.db import transaction
from yixiang.ratelimit import client_address, rate_limit


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]
    guards = [rate_limit("sign_in")]

    @post("/login", status_code=200, summary="Sign in with username and password (desk users)")
    async def login(
        self, data: PasswordLogin, db_session: AsyncSession, request: Request[Any, Any, Any]
    ) -> TokenPair:
        state = request.app.state
        return await signin.sign_in_with_password(
            db_session,
            state.token_issuer,
            state.rate_limiter,
            data.username,
            data.password,
            address=client_address(request),
            limit_per_minute=state.settings.rate_limit_sign_in_per_minute,
        )

    @post(
        "/dev-login", status_code=200, summary="Embedded/dev mode only: sign in as a demo account by username"
    )
    async def dev_login(
        self, data: DevLogin, db_session: AsyncSession, request: Request[Any, Any, Any]
    ) -> TokenPair:
        state = request.app.state
        return await signin.sign_in_as_demo_account(
            db_session,
            state.token_issuer,
            data.username,
            enabled=AccountsSettings.of(state.settings).dev_login_enabled,
        )

    @post("/refresh", status_code=200, summary="Exchange a refresh token for a new token pair (rotates)")
    async def refresh(
        self, data: RefreshRequest, db_session: AsyncSession, request: Request[Any, Any, Any]
    ) -> TokenPair:
        return await signin.refresh(db_session, request.app.state.token_issuer, data.refresh_token)

    @post(
        "/logout",
        summary="Sign out everywhere: revokes every token of the user",
        guards=[requires_user],
        status_code=204,
    )
    async def logout(self, principal: Principal, db_session: AsyncSession) -> None:
        await signin.sign_out_everywhere(db_session, principal.user_id)


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


class OrganizationController(Controller):
    path = "/api/v1/organizations"
    tags = ["organizations"]

    @get("/{org_id:uuid}", summary="An organisation the caller belongs to")
    async def show(
        self, org_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> OrganizationOut:
        async with transaction(db_session, read_only=True):
            org = await get_organization(db_session, principal, org_id)
        return OrganizationOut(
            id=org.id,
            kind=org.kind,
            name=org.name,
            region_code=org.region_code,
            uscc=org.uscc,
            is_tech_sme=org.is_tech_sme,
        )

    @get("/{org_id:uuid}/members", summary="Members of the organisation (its admins only)")
    async def members(
        self, org_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> list[MemberOut]:
        return await list_members(db_session, principal, org_id)

    @post("/{org_id:uuid}/members", summary="Add an existing user to the organisation with a role")
    async def add(
        self, org_id: uuid.UUID, data: MemberIn, principal: Principal, db_session: AsyncSession
    ) -> MemberOut:
        return await add_member(db_session, principal, org_id, data)

    @delete("/{org_id:uuid}/members/{user_id:uuid}", summary="Remove a user from the organisation")
    async def remove(
        self, org_id: uuid.UUID, user_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> None:
        await remove_member(db_session, principal, org_id, user_id)
