"""HTTP routes of personal data: a user's own, never anyone else's (no user in the path)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal, requires_user
from privacy import services
from privacy.export import export_personal_data
from privacy.schemas import ConsentIn, ConsentOut, ErasureIn, ErasureOut
from yixiang.db import transaction


def export_response(data: dict[str, Any]) -> Response[Any]:
    name = f"personal-data-{data['account']['id']}.json"
    return Response(data, headers={"Content-Disposition": f'attachment; filename="{name}"'})


class PersonalDataController(Controller):
    path = "/api/v1/me"
    tags = ["personal data"]
    guards = [requires_user]

    @get("/personal-data", summary="Everything the platform holds about me (PIPL), as JSON")
    async def export(self, principal: Principal, db_session: AsyncSession) -> Response[dict[str, Any]]:
        async with transaction(db_session, read_only=True):
            return export_response(await export_personal_data(db_session, principal))

    @post(
        "/personal-data/erasure",
        status_code=200,
        summary="Erase my personal data: financial records kept pseudonymised (the answer says why)",
    )
    async def erase(
        self, data: ErasureIn, principal: Principal, db_session: AsyncSession, request: Request[Any, Any, Any]
    ) -> ErasureOut:
        return await services.erase(db_session, principal, data.confirm, request.app.state.settings)

    @get("/notification-consent", summary="My consent to WeChat notifications, and when it changed")
    async def consent(self, principal: Principal, db_session: AsyncSession) -> ConsentOut:
        return await services.consent(db_session, principal)

    @post("/notification-consent", status_code=200, summary="Give or withdraw consent to notifications")
    async def set_consent(
        self, data: ConsentIn, principal: Principal, db_session: AsyncSession
    ) -> ConsentOut:
        return await services.set_consent(db_session, principal, data.given, "api")


ROUTES = [PersonalDataController]
