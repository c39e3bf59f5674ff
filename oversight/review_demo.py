"""A demo purchase review: 之江理工 files a proposed 800 MHz NMR spectrometer (波谱仪器, above the
threshold) through the filing service, whose report is generated from the demo records as any
report is, and 杭州's science bureau records 调整 through the decision service — so the frozen
review and its PDF open right after ``uv run yixiang serve`` (console 查重评议).

Idempotent: a review of the demo instrument's name at 之江理工 is not filed again. Quiet when the
accounts are not there.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.auth import load_user, principal_from_user
from accounts.demo import demo_id
from accounts.models import User
from catalogue.models import Origin
from oversight import review
from oversight.errors import PurchaseBlockedByLowUsage
from oversight.review_models import PurchaseReview, Verdict
from oversight.review_schemas import PurchaseFilingIn
from yixiang.db import transaction
from yixiang.settings import load_settings

NAME = "X射线光电子能谱仪（高分辨）"


async def load_review_demo(session: AsyncSession) -> None:
    unit_id = demo_id("unit-zjlg")
    exists = await session.scalar(
        select(PurchaseReview.id).where(
            PurchaseReview.unit_id == unit_id, PurchaseReview.instrument_name == NAME
        )
    )
    admin = await load_user(session, demo_id("demo-unit-admin"))
    officer = await load_user(session, demo_id("demo-science-bureau"))
    if exists is not None or admin is None or officer is None:
        return
    async with transaction(session):  # filing and decision commit together
        try:
            filed = await _file(session, admin)
        except PurchaseBlockedByLowUsage:
            return  # a same-category instrument flagged below 30%: the refusal is the demo then
        await review.decide(
            session,
            principal_from_user(officer),
            filed.id,
            Verdict.adjust,
            "建议优先通过平台共享使用本市现有同类表面分析仪器；确需购置的，优先考虑国产同档次型号，调整配置后重新申报。",
        )


async def _file(session: AsyncSession, admin: User) -> PurchaseReview:
    return await review.file_purchase(
        session,
        principal_from_user(admin),
        PurchaseFilingIn(
            category_code="0113",
            instrument_name=NAME,
            model="ESCALAB QXi",
            price_fen=650_000_000,
            justification=(
                "开展催化剂与电池材料的表面化学态研究，需要更高能量分辨率与深度剖析；现有能谱仪排队较长。"
            ),
            expected_hours_per_year=1500,
            origin=Origin.imported,
            region_code="330106",
        ),
        settings=load_settings(),
    )
