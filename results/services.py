"""Delivering results: upload (provider staff), list and download (the booking's firm), corrections,
the download audit and the retention purge.

Results are the firm's trade secrets: anyone who is neither in the booking's firm nor in the
provider unit gets a 404, so not even the existence of a booking's results is revealed. The
booking's own firm knows its booking: its members trying to upload are told who delivers results
(403 ``results_by_provider_only``), not that the booking is missing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from accounts.models import BOOKER_ROLES, STAFF_ROLES, Membership
from booking.models import Booking, BookingStatus
from booking.services import mark_delivered
from results.errors import BadUpload, LinkInvalid
from results.links import signed_download_path, verify_download
from results.models import ResultDownload, ResultFile, ResultPurge
from results.settings import ResultsSettings
from results.storage import ResultStorage
from results.uploads import ReceivedUpload, receive_upload
from yixiang.db import transaction, utcnow
from yixiang.errors import Conflict, Forbidden, NotFound
from yixiang.locking import lock_row, locked
from yixiang.outbox import emit

DELIVERABLE = {BookingStatus.completed, BookingStatus.delivered, BookingStatus.rated}


class ResultsNotOpen(Conflict):
    code = "results_not_open"
    message = "预约尚未完成，不能上传结果"


class ResultsByProviderOnly(Forbidden):
    code = "results_by_provider_only"
    message = "结果由仪器所属单位的管理人员上传，预约企业可以查看和下载结果"


class ResultPurged(Conflict):
    status = 410
    code = "result_purged"
    message = "该结果文件已超过保存期限并被清除"


def _is_firm_member(principal: Principal, booking: Booking) -> bool:
    return booking.enterprise_id in principal.orgs_where(*BOOKER_ROLES)


def _is_provider(principal: Principal, booking: Booking) -> bool:
    return booking.unit_id in principal.orgs_where(*STAFF_ROLES)


async def _booking_for(session: AsyncSession, principal: Principal, booking_id: uuid.UUID) -> Booking:
    booking = await session.get(Booking, booking_id)
    if booking is None or not (_is_firm_member(principal, booking) or _is_provider(principal, booking)):
        raise NotFound("未找到该预约")
    return booking


async def check_can_upload(session: AsyncSession, principal: Principal, booking_id: uuid.UUID) -> None:
    """Cheap checks before a large body is streamed anywhere."""
    async with transaction(session):
        booking = await _booking_for(session, principal, booking_id)
        if not _is_provider(principal, booking):
            raise ResultsByProviderOnly()
        if booking.status not in DELIVERABLE:
            raise ResultsNotOpen(status=booking.status.value)


async def deliver_results(
    session: AsyncSession,
    storage: ResultStorage,
    principal: Principal,
    booking_id: uuid.UUID,
    body: AsyncIterator[bytes],
    content_type: str,
    *,
    max_file_bytes: int,
    replaces: uuid.UUID | None = None,
) -> list[ResultFile]:
    await check_can_upload(session, principal, booking_id)
    upload = await receive_upload(body, content_type, storage, max_file_bytes=max_file_bytes)
    try:
        return await _record_upload(session, principal, booking_id, upload, replaces)
    except BaseException:
        for received in upload.files:  # nothing half-written: the stored bytes go too
            await storage.delete(received.stored.key)
        raise


async def _record_upload(
    session: AsyncSession,
    principal: Principal,
    booking_id: uuid.UUID,
    upload: ReceivedUpload,
    replaces: uuid.UUID | None,
) -> list[ResultFile]:
    async with transaction(session):
        booking = await lock_row(session, Booking, booking_id)
        if booking is None or not _is_provider(principal, booking):
            raise NotFound("未找到该预约")
        if booking.status not in DELIVERABLE:
            raise ResultsNotOpen(status=booking.status.value)
        version, replaced = 1, None
        if replaces is not None:
            replaced = await session.get(ResultFile, replaces)
            if replaced is None or replaced.booking_id != booking.id:
                raise BadUpload("要更正的文件不属于该预约", field="replaces")
            if replaced.superseded_at is not None:
                raise BadUpload("该文件已有更正版本，请更正最新版本", field="replaces")
            if len(upload.files) != 1:
                raise BadUpload("更正时只能上传一个文件", field="file")
            version = replaced.version + 1
            replaced.superseded_at = utcnow()
        files = []
        for received in upload.files:
            record = ResultFile(
                booking_id=booking.id,
                name=received.name,
                content_type=received.content_type,
                size=received.stored.size,
                sha256=received.stored.sha256,
                storage_key=received.stored.key,
                description=upload.description,
                replaces_id=replaced.id if replaced else None,
                version=version,
                uploaded_by=principal.user_id,
            )
            session.add(record)
            files.append(record)
        await session.flush()
        if booking.status == BookingStatus.completed:
            await mark_delivered(session, principal, booking.id)
        await emit(
            session,
            "booking.results_added",
            {
                "booking_id": booking.id,
                "user_id": booking.user_id,
                "file_ids": [f.id for f in files],
                "correction": replaced is not None,
            },
        )
        return files


async def list_results(
    session: AsyncSession, principal: Principal, booking_id: uuid.UUID
) -> list[ResultFile]:
    async with transaction(session):
        await _booking_for(session, principal, booking_id)
        rows = await session.scalars(
            select(ResultFile)
            .where(ResultFile.booking_id == booking_id)
            .order_by(ResultFile.uploaded_at, ResultFile.name)
        )
        return list(rows.all())


def download_path(settings: Any, file: ResultFile, principal: Principal) -> str:
    return signed_download_path(
        settings.secret_key, file.id, principal.user_id, ResultsSettings.of(settings).link_ttl_seconds
    )


async def open_download(
    session: AsyncSession, settings: Any, file_id: uuid.UUID, uid: str, exp: int, sig: str
) -> ResultFile:
    """Check the link and the user's access now (not when the link was made); record the download."""
    user_id = verify_download(settings.secret_key, file_id, uid, exp, sig)
    async with transaction(session):
        file = await session.get(ResultFile, file_id)
        if file is None:
            raise LinkInvalid()
        booking = await session.get(Booking, file.booking_id)
        assert booking is not None
        orgs = set(
            (
                await session.scalars(
                    select(Membership.organization_id).where(
                        Membership.user_id == user_id, Membership.role.in_([*BOOKER_ROLES, *STAFF_ROLES])
                    )
                )
            ).all()
        )
        if booking.enterprise_id not in orgs and booking.unit_id not in orgs:
            raise NotFound("未找到该文件")
        if file.purged_at is not None:
            raise ResultPurged()
        session.add(ResultDownload(file_id=file.id, user_id=user_id))
        return file


async def purge_expired_results(
    session: AsyncSession, storage: ResultStorage, retention_days: int, *, limit: int = 500
) -> int:
    cutoff = utcnow() - timedelta(days=retention_days)
    files = (
        await session.scalars(
            locked(
                select(ResultFile)
                .where(ResultFile.purged_at.is_(None), ResultFile.uploaded_at < cutoff)
                .order_by(ResultFile.id)
                .limit(limit)
            )
        )
    ).all()
    for file in files:
        await storage.delete(file.storage_key)
        session.add(ResultPurge(file_id=file.id, reason=f"保存期限 {retention_days} 天已到", actor_id=None))
        await session.execute(update(ResultFile).where(ResultFile.id == file.id).values(purged_at=utcnow()))
    if files:
        await emit(session, "booking.results_purged", {"file_ids": [f.id for f in files]})
    return len(files)
