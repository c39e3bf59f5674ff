"""Demo data: 杭州's evaluation of 2025, computed by the evaluation's own service from the demo
records (the indicators of that year) and published by the demo science bureau's officer, so a
new user finds a published evaluation (and its public page) right after ``yixiang serve``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.demo import demo_id
from accounts.models import User
from oversight.evaluation_figures import indicator_figures
from oversight.evaluation_models import Evaluation, EvaluationStatus
from oversight.evaluation_runs import publish_now, store_evaluation
from oversight.evaluation_settings import EvaluationSettings
from yixiang.db import utcnow
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
