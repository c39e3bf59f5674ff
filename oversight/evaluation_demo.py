"""Demo data: 杭州's evaluation of 2025, computed by the evaluation's own service from the demo
records (the indicators of that year) and published by the demo science bureau's officer, so a
new user finds a published evaluation (and its public page) right after ``yixiang serve``; and a
complaint about one of the demo researcher's bookings, accepted by the bureau and waiting for its
decision (投诉 in the console)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import load_user, principal_from_user
from accounts.demo import demo_id
from accounts.models import User
from booking.models import Booking
from oversight import complaints
from oversight.complaint_models import Complaint
from oversight.evaluation_figures import indicator_figures
from oversight.evaluation_models import Evaluation, EvaluationStatus
from oversight.evaluation_runs import publish_now, store_evaluation
from oversight.evaluation_settings import ComplaintSettings, EvaluationSettings
from yixiang.db import transaction, utcnow
from yixiang.settings import load_settings

DEMO_REGION, DEMO_YEAR = "330100", 2025


async def load_evaluation_demo(session: AsyncSession) -> None:
    officer = await session.get(User, demo_id("demo-science-bureau"))
    exists = await session.scalar(
        select(Evaluation.id).where(Evaluation.region_code == DEMO_REGION, Evaluation.year == DEMO_YEAR)
    )
    if officer is None or exists is not None:
        return
    settings = load_settings()
    units, instruments = await indicator_figures(settings)(session, DEMO_REGION, DEMO_YEAR)
    units = [u for u in units if u.instruments > 0]
    if not units:
        return
    evaluation = await store_evaluation(
        session,
        region_code=DEMO_REGION,
        year=DEMO_YEAR,
        opened_by=officer.id,
        rules=EvaluationSettings.of(settings).rules(),
        units=units,
        instruments=instruments,
    )
    await publish_now(session, evaluation, officer.id, utcnow())
    assert evaluation.status == EvaluationStatus.published


DEMO_COMPLAINT = "演示投诉：预约确认后仪器临时停机维护，未提前通知，样品送达后等待了三天。"


async def load_complaint_demo(session: AsyncSession) -> None:
    # The services each open a transaction: within this one, they all commit together.
    async with transaction(session):
        await _file_demo_complaint(session)


async def _file_demo_complaint(session: AsyncSession) -> None:
    if await session.scalar(select(Complaint.id).where(Complaint.text == DEMO_COMPLAINT)) is not None:
        return
    researcher = await load_user(session, demo_id("demo-researcher"))
    officer = await load_user(session, demo_id("demo-science-bureau"))
    booking_id = await session.scalar(
        select(Booking.id)
        .where(Booking.user_id == demo_id("demo-researcher"), Booking.unit_id == demo_id("unit-zjlg"))
        .order_by(Booking.created_at, Booking.id)
        .limit(1)
    )
    if researcher is None or officer is None or booking_id is None:
        return
    complaint = await complaints.file_complaint(
        session,
        principal_from_user(researcher),
        text=DEMO_COMPLAINT,
        booking_id=booking_id,
        handling_working_days=ComplaintSettings.of(load_settings()).handling_working_days,
    )
    await complaints.accept(session, principal_from_user(officer), complaint.id)
