"""HTTP for results: upload (multipart, streamed), list with signed links, download."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from results.dependencies import ResultStorageDependency
from results.errors import BadUpload
from results.models import ResultFile
from results.services import deliver_results, download_path, list_results, open_download
from results.settings import ResultsSettings
from results.uploads import upload_limit
from yixiang.bodies import BODY_LIMIT
from yixiang.schemas import Output


class ResultFileOut(Output):
    id: uuid.UUID
    name: str
    size: int
    sha256: str
    content_type: str
    description: str
    version: int
    replaces: uuid.UUID | None
    current: bool
    uploaded_at: datetime
    download_url: str | None


class ResultList(Output):
    items: list[ResultFileOut]


def _upload_limit(settings: Any) -> int:
    return upload_limit(ResultsSettings.of(settings).max_file_bytes)


def _out(file: ResultFile, url: str | None) -> ResultFileOut:
    return ResultFileOut(
        id=file.id,
        name=file.name,
        size=file.size,
        sha256=file.sha256,
        content_type=file.content_type,
        description=file.description,
        version=file.version,
        replaces=file.replaces_id,
        current=file.superseded_at is None and file.purged_at is None,
        uploaded_at=file.uploaded_at,
        download_url=url,
    )


class ResultsController(Controller):
    path = "/api/v1"
    tags = ["results"]

    @post(
        "/bookings/{booking_id:uuid}/results",
        summary="Provider staff deliver result files (multipart: one or more `file`, optional `description`)",
        request_max_body_size=None,  # each file is limited (results_max_file_bytes) while it streams,
        opt={BODY_LIMIT: _upload_limit},  # and so are all of them together, refused before they stream
        status_code=201,
    )
    async def upload(
        self,
        booking_id: uuid.UUID,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
        result_storage: ResultStorageDependency,
        replaces: uuid.UUID | None = Parameter(query="replaces", default=None, required=False),
    ) -> ResultList:
        settings = request.app.state.settings
        content_type = request.headers.get("content-type", "")
        if not content_type:
            raise BadUpload("请以 multipart/form-data 上传文件")
        files = await deliver_results(
            db_session,
            result_storage,
            principal,
            booking_id,
            request.stream(),
            content_type,
            max_file_bytes=ResultsSettings.of(settings).max_file_bytes,
            replaces=replaces,
        )
        return ResultList(items=[_out(f, download_path(settings, f, principal)) for f in files])

    @get("/bookings/{booking_id:uuid}/results", summary="Result files of a booking, with short-lived links")
    async def index(
        self,
        booking_id: uuid.UUID,
        request: Request[Any, Any, Any],
        principal: Principal,
        db_session: AsyncSession,
    ) -> ResultList:
        settings = request.app.state.settings
        files = await list_results(db_session, principal, booking_id)
        return ResultList(
            items=[
                _out(f, download_path(settings, f, principal) if f.purged_at is None else None) for f in files
            ]
        )

    @get(
        "/results/{file_id:uuid}/download",
        summary="Download a result file through its signed link (recorded)",
    )
    async def download(
        self,
        file_id: uuid.UUID,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        result_storage: ResultStorageDependency,
        uid: str = Parameter(query="uid", max_length=64),
        exp: int = Parameter(query="exp", ge=0, le=2**40),
        sig: str = Parameter(query="sig", max_length=128),
    ) -> Stream:
        settings = request.app.state.settings
        file = await open_download(db_session, settings, file_id, uid, exp, sig)
        return Stream(
            result_storage.read(file.storage_key),
            media_type=file.content_type,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(file.name)}",
                "Content-Length": str(file.size),
                "X-Content-Type-Options": "nosniff",
                "X-Checksum-SHA256": file.sha256,
            },
        )
