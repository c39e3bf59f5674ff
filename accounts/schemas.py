"""The request and response bodies of sign-in and organisations."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from accounts.auth import MembershipView
from accounts.models import OrgKind, Role
from yixiang.schemas import Input, Output

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class OrganizationOut(Output):
    id: uuid.UUID
    kind: OrgKind
    name: str
    region_code: str
    uscc: str | None
    is_tech_sme: bool


class MemberOut(Output):
    user_id: uuid.UUID
    username: str
    display_name: str
    role: Role


class MemberIn(Input):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    role: Role


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
