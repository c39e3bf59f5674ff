"""HTTP for the sharing reward: programmes (the finance bureau's terms), batches and their evidence,
and each unit's own lines."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from litestar import Controller, Response, get, post, put
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import Principal
from oversight import evaluation, reward_export
from oversight import reward_batches as service
from oversight.reward_schemas import (
    RewardBatchOut,
    RewardBatchSummaryOut,
    RewardEvidenceOut,
    RewardLineOut,
    RewardProgrammeIn,
    RewardProgrammeOut,
    RewardReconciliationOut,
    RewardTermsIn,
)
from vouchers.schemas import MarkPaidIn
from yixiang.db import transaction
from yixiang.openapi import CSV, XLSX, files


async def published_grades(session: AsyncSession, region_code: str, year: int) -> Mapping[uuid.UUID, str]:
    """The year's published evaluation grades (优秀 / 良好 earn the 共享保 subsidy); {} while the
    region's evaluation of the year is not published."""
    return await evaluation.published_grades(session, region_code=region_code, year=year)


class RewardProgrammeController(Controller):
    path = "/api/v1/reward-programmes"
    tags = ["oversight"]

    @get("/", summary="Sharing reward programmes of the caller's regions (platform admins: all)")
    async def index(self, principal: Principal, db_session: AsyncSession) -> list[RewardProgrammeOut]:
        async with transaction(db_session, read_only=True):
            return [
                await service.programme_out(db_session, p)
                for p in await service.list_programmes(db_session, principal)
            ]

    @post("/", summary="The finance bureau sets a year's reward terms for its region")
    async def create(
        self, data: RewardProgrammeIn, principal: Principal, db_session: AsyncSession
    ) -> RewardProgrammeOut:
        async with transaction(db_session):
            programme = await service.create_programme(db_session, principal, data)
            return await service.programme_out(db_session, programme)

    @get("/{programme_id:uuid}", summary="A reward programme's terms")
    async def show(
        self, programme_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> RewardProgrammeOut:
        async with transaction(db_session, read_only=True):
            programme = await service.get_programme(db_session, principal, programme_id)
            return await service.programme_out(db_session, programme)

    @put("/{programme_id:uuid}", summary="The finance bureau changes the terms (before any batch)")
    async def update(
        self, programme_id: uuid.UUID, data: RewardTermsIn, principal: Principal, db_session: AsyncSession
    ) -> RewardProgrammeOut:
        async with transaction(db_session):
            programme = await service.update_programme(db_session, principal, programme_id, data)
            return await service.programme_out(db_session, programme)

    @post("/{programme_id:uuid}/batches", summary="Draw the year's reward batch from the records")
    async def draw(
        self, programme_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> RewardBatchOut:
        async with transaction(db_session):
            batch = await service.draw_batch(db_session, principal, programme_id, published_grades)
            return await service.batch_out(db_session, batch)


class RewardBatchController(Controller):
    path = "/api/v1/reward-batches"
    tags = ["oversight"]

    @get("/", summary="Reward batches of the caller's regions (platform admins: all), newest first")
    async def index(self, principal: Principal, db_session: AsyncSession) -> list[RewardBatchSummaryOut]:
        async with transaction(db_session, read_only=True):
            return await service.list_batches(db_session, principal)

    @get("/{batch_id:uuid}", summary="A reward batch: a line per unit with its instruments")
    async def show(
        self, batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> RewardBatchOut:
        async with transaction(db_session, read_only=True):
            return await service.batch_out(
                db_session, await service.get_batch(db_session, principal, batch_id)
            )

    async def _act(
        self, db_session: AsyncSession, principal: Principal, batch_id: uuid.UUID, action: str, **kw: Any
    ) -> RewardBatchOut:
        async with transaction(db_session):
            batch = await service.transition(db_session, principal, batch_id, action, **kw)
            return await service.batch_out(db_session, batch)

    @post(
        "/{batch_id:uuid}/submit", status_code=200, summary="Submit the draft (amounts are final from here)"
    )
    async def submit(
        self, batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> RewardBatchOut:
        return await self._act(db_session, principal, batch_id, "submit")

    @post(
        "/{batch_id:uuid}/approve",
        status_code=200,
        summary="The finance bureau approves (not the submitter): posted from the reward budget",
    )
    async def approve(
        self, batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> RewardBatchOut:
        return await self._act(db_session, principal, batch_id, "approve")

    @post("/{batch_id:uuid}/mark-paid", status_code=200, summary="Record the bank payment (reference)")
    async def mark_paid(
        self, batch_id: uuid.UUID, data: MarkPaidIn, principal: Principal, db_session: AsyncSession
    ) -> RewardBatchOut:
        return await self._act(db_session, principal, batch_id, "mark_paid", paid=data)

    @post(
        "/{batch_id:uuid}/discard", status_code=200, summary="Discard a draft (the year may be drawn again)"
    )
    async def discard(
        self, batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> RewardBatchOut:
        return await self._act(db_session, principal, batch_id, "discard")

    @post(
        "/{batch_id:uuid}/reconcile", status_code=200, summary="Close the batch once it reconciles to the fen"
    )
    async def reconcile(
        self, batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> RewardBatchOut:
        return await self._act(db_session, principal, batch_id, "reconcile")

    @get("/{batch_id:uuid}/reconciliation", summary="The batch against the ledger, to the fen")
    async def reconciliation(
        self, batch_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> RewardReconciliationOut:
        async with transaction(db_session, read_only=True):
            return await service.reconciliation(db_session, principal, batch_id)

    @get(
        "/{batch_id:uuid}/lines/{unit_id:uuid}/bookings",
        summary="The bookings behind a unit's sharing reward, with links to their records",
    )
    async def evidence(
        self, batch_id: uuid.UUID, unit_id: uuid.UUID, principal: Principal, db_session: AsyncSession
    ) -> list[RewardEvidenceOut]:
        async with transaction(db_session, read_only=True):
            return await service.line_evidence(db_session, principal, batch_id, unit_id)

    @get("/{batch_id:uuid}/export", summary="The batch as CSV or XLSX", opt=files(CSV, XLSX))
    async def export(
        self,
        batch_id: uuid.UUID,
        principal: Principal,
        db_session: AsyncSession,
        format: Literal["csv", "xlsx"] = "csv",
    ) -> Response[bytes]:
        async with transaction(db_session, read_only=True):
            out = await service.batch_out(
                db_session, await service.get_batch(db_session, principal, batch_id)
            )
        content = reward_export.export_xlsx(out) if format == "xlsx" else reward_export.export_csv(out)
        return Response(
            content,
            media_type=XLSX if format == "xlsx" else CSV,
            headers={"Content-Disposition": f'attachment; filename="reward-{out.year}-{batch_id}.{format}"'},
        )


@get("/api/v1/reward-lines", tags=["oversight"], summary="A unit's own reward lines (not discarded)")
async def my_reward_lines(principal: Principal, db_session: AsyncSession) -> list[RewardLineOut]:
    async with transaction(db_session, read_only=True):
        return await service.unit_lines(db_session, principal)


ROUTES: list[Any] = [RewardProgrammeController, RewardBatchController, my_reward_lines]
