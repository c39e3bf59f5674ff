"""Organisations and their members: an enterprise admin manages the firm's researchers, a unit
admin the unit's provider staff. Outsiders learn nothing: another organisation is a 404."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.errors import AlreadyMember, RoleNotAllowed
from accounts.models import ROLE_ORG_KINDS, Membership, Organization, OrgKind, Role, User
from accounts.schemas import MemberIn, MemberOut
from yixiang.audit import record_change
from yixiang.db import transaction
from yixiang.errors import Forbidden, NotFound
from yixiang.outbox import emit

ADMIN_ROLES = {OrgKind.enterprise: Role.enterprise_admin, OrgKind.unit: Role.unit_admin}


def _visible(principal: Principal, org_id: uuid.UUID) -> bool:
    return principal.is_platform_admin or org_id in {m.organization_id for m in principal.memberships}


async def get_organization(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, org_id)
    if org is None or not _visible(principal, org_id):
        raise NotFound("未找到该单位")
    return org


async def _require_admin(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> Organization:
    org = await get_organization(session, principal, org_id)
    admin_role = ADMIN_ROLES.get(org.kind)
    if principal.is_platform_admin:
        return org
    if admin_role is None or org_id not in principal.orgs_where(admin_role):
        raise Forbidden("只有本单位管理员可以管理成员")
    return org


async def list_members(session: AsyncSession, principal: Principal, org_id: uuid.UUID) -> list[MemberOut]:
    async with transaction(session):
        await _require_admin(session, principal, org_id)
        rows = await session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == org_id)
            .order_by(User.username)
        )
        return [
            MemberOut(user_id=u.id, username=u.username, display_name=u.display_name, role=m.role)
            for m, u in rows.all()
        ]


async def add_member(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, data: MemberIn
) -> MemberOut:
    async with transaction(session):
        org = await _require_admin(session, principal, org_id)
        if org.kind not in ROLE_ORG_KINDS[data.role]:
            raise RoleNotAllowed(role=data.role.value, organization_kind=org.kind.value)
        user = await session.scalar(select(User).where(User.username == data.username))
        if user is None:
            raise NotFound("没有这个用户", username=data.username)
        existing = await session.scalar(
            select(Membership).where(
                Membership.user_id == user.id,
                Membership.organization_id == org_id,
                Membership.role == data.role,
            )
        )
        if existing is not None:
            raise AlreadyMember()
        membership = Membership(user_id=user.id, organization_id=org_id, role=data.role)
        session.add(membership)
        await session.flush()
        await record_change(
            session,
            actor_id=principal.user_id,
            entity_type="membership",
            entity_id=membership.id,
            action="created",
            after={
                "user_id": user.id,
                "username": user.username,
                "organization_id": org_id,
                "role": data.role,
            },
        )
        await emit(
            session,
            "identity.member_added",
            {"organization_id": org_id, "user_id": user.id, "role": data.role.value, "by": principal.user_id},
        )
        return MemberOut(
            user_id=user.id, username=user.username, display_name=user.display_name, role=data.role
        )


async def remove_member(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    async with transaction(session):
        await _require_admin(session, principal, org_id)
        memberships = (
            await session.scalars(
                select(Membership).where(Membership.user_id == user_id, Membership.organization_id == org_id)
            )
        ).all()
        if not memberships:
            raise NotFound("该用户不是本单位成员")
        for membership in memberships:
            await record_change(
                session,
                actor_id=principal.user_id,
                entity_type="membership",
                entity_id=membership.id,
                action="removed",
                before={"user_id": user_id, "organization_id": org_id, "role": membership.role},
            )
            await session.delete(membership)
        await emit(
            session,
            "identity.member_removed",
            {"organization_id": org_id, "user_id": user_id, "by": principal.user_id},
        )
