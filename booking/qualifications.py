"""Training records for self-operation (自主上机): granted and revoked by the unit's staff."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import STAFF_ROLES, User
from booking.access import managed_instrument
from booking.bookable import InstrumentTerms
from booking.errors import NotProviderStaff
from booking.models import Qualification
from booking.schemas import QualificationIn
from catalogue.access import is_staff_of
from catalogue.models import Category
from yixiang.db import transaction, utcnow
from yixiang.errors import InvalidInput, NotFound
from yixiang.outbox import emit


class QualificationTargetInvalid(InvalidInput):
    code = "qualification_target_invalid"
    message = "请指定仪器，或指定单位和仪器类别（二选一）"


async def has_valid_qualification(
    session: AsyncSession, user_id: uuid.UUID, instrument: InstrumentTerms, on: date
) -> bool:
    """A qualification for this instrument, or for its category at its unit, valid on ``on``."""
    found = await session.scalar(
        select(Qualification.id)
        .where(
            Qualification.user_id == user_id,
            Qualification.unit_id == instrument.unit_id,
            Qualification.revoked_at.is_(None),
            Qualification.expires_on >= on,
            or_(
                Qualification.instrument_id == instrument.id,
                Qualification.category_code == instrument.category_code,
            ),
        )
        .limit(1)
    )
    return found is not None


async def grant_qualification(
    session: AsyncSession, principal: Principal, data: QualificationIn
) -> Qualification:
    async with transaction(session):
        if (data.instrument_id is None) == (data.category_code is None):
            raise QualificationTargetInvalid()
        if data.instrument_id is not None:
            instrument = await managed_instrument(session, principal, data.instrument_id)
            unit_id, category_code = instrument.unit_id, None
        else:
            if data.unit_id is None or await session.get(Category, data.category_code) is None:
                raise QualificationTargetInvalid()
            if not is_staff_of(principal, data.unit_id):
                raise NotProviderStaff()
            unit_id, category_code = data.unit_id, data.category_code
        user = await session.scalar(select(User).where(User.username == data.username))
        if user is None:
            raise NotFound("没有这个用户", username=data.username)
        row = Qualification(
            user_id=user.id,
            unit_id=unit_id,
            instrument_id=data.instrument_id,
            category_code=category_code,
            expires_on=data.expires_on,
            note=data.note,
            granted_by=principal.user_id,
            granted_at=utcnow(),
        )
        session.add(row)
        await session.flush()
        await emit(
            session,
            "booking.qualification_granted",
            {"qualification_id": row.id, "user_id": user.id, "unit_id": unit_id, "by": principal.user_id},
        )
        return row


async def revoke_qualification(
    session: AsyncSession, principal: Principal, qualification_id: uuid.UUID
) -> Qualification:
    async with transaction(session):
        row = await session.get(Qualification, qualification_id)
        if row is None or not is_staff_of(principal, row.unit_id):
            raise NotFound("未找到该培训资格")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            row.revoked_by = principal.user_id
            await emit(
                session,
                "booking.qualification_revoked",
                {"qualification_id": row.id, "user_id": row.user_id, "by": principal.user_id},
            )
        return row


async def list_qualifications(
    session: AsyncSession, principal: Principal, *, unit_id: uuid.UUID | None, mine: bool
) -> list[Qualification]:
    """Provider staff see their unit's records; anyone sees their own."""
    async with transaction(session):
        query = select(Qualification).order_by(Qualification.granted_at.desc()).limit(500)
        if mine or unit_id is None:
            query = query.where(Qualification.user_id == principal.user_id)
        if unit_id is not None:
            if not mine and unit_id not in principal.orgs_where(*STAFF_ROLES):
                raise NotProviderStaff()
            query = query.where(Qualification.unit_id == unit_id)
        return list((await session.scalars(query)).all())
