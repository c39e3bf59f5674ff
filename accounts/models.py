"""Who is who: regions, organisations, users and their memberships with roles."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yixiang.db import Base, Timestamps, UUIDPrimaryKey, utcnow
from yixiang.outbox import BigId


class OrgKind(enum.StrEnum):
    enterprise = "enterprise"
    unit = "unit"  # 管理单位: the holding unit of instruments
    bureau = "bureau"
    platform = "platform"


class BureauKind(enum.StrEnum):
    science = "science"  # 科技局
    finance = "finance"  # 财政局


class Role(enum.StrEnum):
    researcher = "researcher"
    enterprise_admin = "enterprise_admin"
    provider_staff = "provider_staff"
    unit_admin = "unit_admin"
    bureau_officer = "bureau_officer"
    platform_admin = "platform_admin"


# The role groups every domain checks against (one home: a new role joins its group here).
BOOKER_ROLES = (Role.researcher, Role.enterprise_admin)  # book and pay on behalf of their firm
STAFF_ROLES = (Role.provider_staff, Role.unit_admin)  # manage their holding unit's instruments

# Which organisation kinds each role can belong to.
ROLE_ORG_KINDS: dict[Role, set[OrgKind]] = {
    Role.researcher: {OrgKind.enterprise, OrgKind.unit},
    Role.enterprise_admin: {OrgKind.enterprise},
    Role.provider_staff: {OrgKind.unit},
    Role.unit_admin: {OrgKind.unit},
    Role.bureau_officer: {OrgKind.bureau},
    Role.platform_admin: {OrgKind.platform},
}


def _enum(cls: type[enum.Enum]) -> Enum:
    return Enum(cls, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])


class Region(Base):
    """A GB/T 2260 administrative division (province, city or district)."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))  # province | city | district
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("regions.code"), index=True)


class Organization(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "organizations"

    kind: Mapped[OrgKind] = mapped_column(_enum(OrgKind), index=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("regions.code"), index=True)
    bureau_kind: Mapped[BureauKind | None] = mapped_column(_enum(BureauKind))
    # A certified technology-based SME (科技型中小企业): voucher programmes may require it.
    is_tech_sme: Mapped[bool] = mapped_column(default=False)
    # An enterprise affiliated to a holding unit pays that unit's internal rates.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id"))


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped to revoke every token issued before (sign out everywhere, account blocked).
    token_version: Mapped[int] = mapped_column(default=0)
    # WeChat identities are bound by the bot; kept here so sign-in can find the user.
    wechat_unionid: Mapped[str | None] = mapped_column(String(64), unique=True)
    wechat_openid: Mapped[str | None] = mapped_column(String(64), unique=True)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", lazy="selectin")


class Membership(UUIDPrimaryKey, Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organization_id", "role"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    organization: Mapped[Organization] = relationship(lazy="joined")


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class NotificationConsent(Base):
    """Each time a user gives or withdraws consent to WeChat notifications (PIPL): the latest row
    is the answer now (``accounts.consent``), the rows before it the record of when."""

    __tablename__ = "notification_consents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    given: Mapped[bool]
    source: Mapped[str] = mapped_column(String(16))  # page | api
    at: Mapped[datetime] = mapped_column(default=utcnow)
