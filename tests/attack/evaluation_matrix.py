"""The authorisation matrix's rows for complaints and the yearly evaluation (issue 22, 24)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update

from accounts.demo import demo_id
from catalogue.models import Instrument
from tests.attack.test_authz_matrix import (
    FA,
    FB,
    PA,
    R1,
    R2,
    RN,
    SB,
    UA,
    Case,
    P,
    Scene,
    expect,
    fixed,
    only,
)
from tests.booking.world import make_instrument
from tests.evaluation.world import Figures, draft, new_units, spread

C = "/api/v1/complaints"
ZJLG = demo_id("unit-zjlg")


def complaint_cases(s: Scene) -> list[Case]:
    """R1 complains about its own booking at 之江理工 (杭州): the complainant's side, the unit and
    杭州's bureaus see it; only 杭州's science bureau handles it; others never see it."""

    async def filed() -> str:
        r = await s.client.post(
            C, json={"booking_id": s.own, "text": "矩阵：服务不到位"}, headers=s.headers[R1]
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def shown() -> tuple[str, Any]:
        return f"{C}/{await filed()}", None

    async def accepting() -> tuple[str, Any]:
        return f"{C}/{await filed()}/accept", None

    async def deciding() -> tuple[str, Any]:
        cid = await filed()
        r = await s.client.post(f"{C}/{cid}/accept", headers=s.headers[SB])
        assert r.status_code == 200, r.text
        return f"{C}/{cid}/decision", {"upheld": True, "answer": "矩阵：投诉成立"}

    seen = only(200, [R1, FA, P, UA, SB, FB, PA], 404)
    handled = {**only(200, [SB], 404), R1: 403, FA: 403, P: 403, UA: 403, FB: 403, PA: 403}
    filing = {**only(201, [R1, FA], 403), R2: 400, RN: 400}  # another firm's booking: not theirs
    return [
        Case("POST /api/v1/complaints", fixed(C, {"booking_id": s.own, "text": "矩阵：仪器未校准"}), filing),
        Case("GET /api/v1/complaints", fixed(C), expect(200)),
        Case("GET /api/v1/complaints/{complaint_id:uuid}", shown, seen),
        Case("POST /api/v1/complaints/{complaint_id:uuid}/accept", accepting, handled, fresh=True),
        Case("POST /api/v1/complaints/{complaint_id:uuid}/decision", deciding, handled, fresh=True),
    ]


OV = "/api/v1/oversight"
DRAFT_YEARS = itertools.count(3000)  # drafts made from hand-built figures: years nothing else uses
OPEN_YEARS = itertools.count(2006)  # opened through the API from the records of a past year


async def opening_body(s: Scene) -> tuple[str, Any]:
    """A year in which one new 之江理工 instrument was listed: 杭州's evaluation of it may open."""
    year = next(OPEN_YEARS)
    instrument = await make_instrument(s.backend)
    async with s.backend.runtime.session_maker() as session, session.begin():
        await session.execute(
            update(Instrument)
            .where(Instrument.id == instrument.instrument_id)
            .values(published_at=datetime(year, 3, 1, tzinfo=UTC))
        )
    return f"{OV}/evaluations", {"year": year, "region_code": "330100"}


def evaluation_cases(s: Scene, public: dict[str, int]) -> list[Case]:
    """杭州's evaluation: its bureaus read it (the operator too), its science bureau runs it, the
    finance bureau co-signs adjustments; 之江理工 sees and objects to its own result only."""

    async def made(status: str = "draft") -> tuple[str, str]:
        """A 杭州 evaluation with 之江理工 taking part: (evaluation id, 之江理工's result id)."""
        year = next(DRAFT_YEARS)
        others = await new_units(s.backend, 2)
        figures = [Figures(unit_id=ZJLG, unit_name="之江理工大学分析测试中心"), *spread(others, [0.3, 0.5])]
        evaluation_id = await draft(s.backend, year, figures)
        for action in {"draft": [], "under_review": ["submit"], "published": ["submit", "publish"]}[status]:
            r = await s.client.post(f"{OV}/evaluations/{evaluation_id}/{action}", headers=s.headers[SB])
            assert r.status_code == 200, r.text
        r = await s.client.get(f"{OV}/evaluations/{evaluation_id}", headers=s.headers[SB])
        result = next(x["id"] for x in r.json()["results"] if x["unit_id"] == str(ZJLG))
        return evaluation_id, result

    async def acting(action: str, status: str) -> tuple[str, Any]:
        evaluation_id, _ = await made(status)
        return f"{OV}/evaluations/{evaluation_id}/{action}", None

    async def shown() -> tuple[str, Any]:
        return f"{OV}/evaluations/{(await made())[0]}", None

    async def adjusting() -> tuple[str, Any]:
        return f"{OV}/evaluation-results/{(await made())[1]}/adjustments", {
            "score": 88,
            "reason": "矩阵：复核调整",
        }

    async def deciding() -> tuple[str, Any]:
        path, body = await adjusting()
        r = await s.client.post(path, json=body, headers=s.clerk)  # a second 杭州 science officer proposes
        assert r.status_code == 201, r.text
        return f"{OV}/score-adjustments/{r.json()['id']}/decision", {"approve": True, "note": "矩阵"}

    async def objecting() -> tuple[str, Any]:
        return f"{OV}/evaluation-results/{(await made())[1]}/objections", {"reason": "矩阵：数据有误请核实"}

    async def answering() -> tuple[str, Any]:
        path, body = await objecting()
        r = await s.client.post(path, json=body, headers=s.headers[UA])
        assert r.status_code == 201, r.text
        return f"{OV}/evaluation-objections/{r.json()['id']}/answer", {"answer": "矩阵：维持原评分"}

    async def published() -> tuple[str, Any]:
        evaluation_id, _ = await made("published")
        r = await s.client.get(f"{OV}/evaluations/{evaluation_id}", headers=s.headers[SB])
        return f"/api/v1/public/evaluations/330100/{r.json()['year']}", None

    run = {**only(200, [SB], 404), FB: 403, PA: 403}  # the science bureau; others of 杭州 are told so
    return [
        Case("POST /api/v1/oversight/evaluations", lambda: opening_body(s), only(201, [SB], 403), fresh=True),
        Case("GET /api/v1/oversight/evaluations", fixed(f"{OV}/evaluations"), expect(200)),
        Case("GET /api/v1/oversight/evaluations/{evaluation_id:uuid}", shown, only(200, [SB, FB, PA], 404)),
        *[
            Case(
                f"POST /api/v1/oversight/evaluations/{{evaluation_id:uuid}}/{action}",
                lambda action=action, status=status: acting(action, status),
                run,
                fresh=True,
            )
            for action, status in (
                ("submit", "draft"),
                ("reopen", "under_review"),
                ("publish", "under_review"),
            )
        ],
        Case(
            "POST /api/v1/oversight/evaluation-results/{result_id:uuid}/adjustments",
            adjusting,
            {**run, SB: 201},
            fresh=True,
        ),
        Case(
            "POST /api/v1/oversight/score-adjustments/{adjustment_id:uuid}/decision",
            deciding,
            {**only(200, [SB, FB], 404), PA: 403},
            fresh=True,
        ),
        Case(
            "GET /api/v1/oversight/my-evaluation-results", fixed(f"{OV}/my-evaluation-results"), expect(200)
        ),
        Case(
            "POST /api/v1/oversight/evaluation-results/{result_id:uuid}/objections",
            objecting,
            {**only(201, [UA], 404), P: 403},
            fresh=True,
        ),
        Case(
            "POST /api/v1/oversight/evaluation-objections/{objection_id:uuid}/answer",
            answering,
            run,
            fresh=True,
        ),
        Case("GET /api/v1/public/evaluations/{region_code:str}/{year:int}", published, public),
    ]
