"""Result delivery from the console: a booking's files (with short-lived download links) and an
upload form — files dropped on it or chosen — whose body streams to storage as it arrives, through
the results service the API calls (``results.services.deliver_results``: who may deliver, the
file limits, nothing half-written).

The form's token travels in its address (``?_csrf=``), not in the body: checking it must not read
a body of hundreds of megabytes into memory first. Addresses are not logged (the access line names
the route) nor sent on (``Referrer-Policy: no-referrer``).
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, post
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from console.pages import act
from console.provider import STAFF
from results.dependencies import ResultStorageDependency
from results.services import deliver_results
from results.settings import ResultsSettings
from results.uploads import upload_limit
from yixiang.bodies import BODY_LIMIT


@post(
    "/bookings/{booking_id:uuid}/results",
    summary="Console: deliver result files (multipart, streamed to storage)",
    guards=[STAFF],
    request_max_body_size=None,  # each file is limited while it streams, all together before
    opt={
        BODY_LIMIT: lambda settings: upload_limit(ResultsSettings.of(settings).max_file_bytes),
        "csrf": "address",
    },
)
async def upload(
    request: Request[Any, Any, Any],
    booking_id: uuid.UUID,
    principal: Principal,
    db_session: AsyncSession,
    result_storage: ResultStorageDependency,
) -> Redirect:
    settings = request.app.state.settings

    async def work() -> str:
        files = await deliver_results(
            db_session,
            result_storage,
            principal,
            booking_id,
            request.stream(),
            request.headers.get("content-type", ""),
            max_file_bytes=ResultsSettings.of(settings).max_file_bytes,
        )
        return f"已交付 {len(files)} 个结果文件：" + "、".join(f.name for f in files)

    return await act(f"/console/bookings/{booking_id}", work)


ROUTES = [upload]
