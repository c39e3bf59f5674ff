"""The personal-data services the routes and the phone page share."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.consent import SOURCES, consent_of, record_consent
from privacy.erasure import Erasure, erase_personal_data
from privacy.schemas import ConsentChange, ConsentOut, DeletedOut, ErasureOut, KeptOut
from yixiang.db import transaction
from yixiang.errors import InvalidInput
from yixiang.settings import Settings

ERASURE_NOTE = (
    "您的个人信息已删除或匿名化，账号已注销。上面列出了依法保留的记录及原因；如有疑问请联系平台客服。"
)


class ErasureNotConfirmed(InvalidInput):
    code = "erasure_not_confirmed"
    message = "删除个人信息不可撤销，请确认后再提交"


async def consent(session: AsyncSession, principal: Principal) -> ConsentOut:
    async with transaction(session, read_only=True):
        found = await consent_of(session, principal.user_id)
    return ConsentOut(
        given=found.given,
        answered_at=found.at,
        history=[ConsentChange(given=g, at=at, source=src) for g, at, src in found.history],
    )


async def set_consent(session: AsyncSession, principal: Principal, given: bool, source: str) -> ConsentOut:
    assert source in SOURCES
    async with transaction(session):
        await record_consent(session, principal.user_id, given, source)
    return await consent(session, principal)


async def erase(
    session: AsyncSession, principal: Principal, confirmed: bool, settings: Settings
) -> ErasureOut:
    if not confirmed:
        raise ErasureNotConfirmed(field="confirm")
    done: Erasure = await erase_personal_data(session, principal, settings)
    return ErasureOut(
        kept=[KeptOut(**item) for item in done.kept],
        deleted=[DeletedOut(**item) for item in done.deleted],
        note=ERASURE_NOTE,
    )
