"""Grades: at most 15% of the participating units 优秀 (rounded down, ties by the stated rule),
also after an adjustment; the 30% flag on generic instruments; what the contract's reads return."""

from __future__ import annotations

import uuid

import pytest

from oversight.evaluation import Grade, low_usage_flags, published_grades, published_results
from oversight.evaluation_runs import store_evaluation, transition
from oversight.evaluation_scoring import Ranked, Rules, assign_grades, excellent_quota
from tests.booking.world import make_instrument
from tests.evaluation.world import Figures, InstrumentRow, new_units, principal_of

RULES = Rules()


def ranked(scores: list[float], sharing: list[float] | None = None) -> list[Ranked]:
    return [
        Ranked(
            unit_id=uuid.UUID(int=n + 1),
            unit_name=f"单位{n:02d}",
            score=score,
            sharing_rate=(sharing or [0.0] * len(scores))[n],
            usage_rate=0.5,
        )
        for n, score in enumerate(scores)
    ]


def grades(units: list[Ranked]) -> dict[str, Grade]:
    return {u.unit_name: g for u, g, _ in assign_grades(units, RULES)}


@pytest.mark.parametrize(("participants", "most"), [(20, 3), (7, 1), (6, 0), (13, 1), (14, 2), (100, 15)])
def test_at_most_fifteen_percent_excellent_rounded_down(participants, most):
    assert excellent_quota(participants, RULES) == most
    everyone_excellent = ranked([95.0] * participants)
    found = list(grades(everyone_excellent).values())
    assert found.count(Grade.excellent) == most
    assert found.count(Grade.good) == participants - most  # above the threshold, over the quota


def test_the_quota_goes_to_the_best_scores_and_ties_by_sharing_rate():
    scores = [99.0, 90.0, 90.0, 90.0, 86.0, *[70.0] * 15]  # 20 units: 3 优秀
    sharing = [0.1, 0.2, 0.5, 0.4, 0.9, *[0.0] * 15]
    got = grades(ranked(scores, sharing))
    assert got["单位00"] == Grade.excellent  # the best score
    assert got["单位02"] == Grade.excellent  # tied at 90: the higher sharing rates win
    assert got["单位03"] == Grade.excellent
    assert got["单位01"] == Grade.good  # tied at 90, lowest sharing rate: over the quota
    assert got["单位04"] == Grade.good


def test_grades_follow_the_thresholds():
    got = grades(ranked([84.99, 70.0, 69.99, 60.0, 59.99]))
    assert list(got.values()) == [Grade.good, Grade.good, Grade.passed, Grade.passed, Grade.poor]


def test_nobody_below_the_excellent_threshold_is_excellent_even_within_the_quota():
    assert Grade.excellent not in grades(ranked([84.0] * 20)).values()


async def test_published_reads_and_the_thirty_percent_flag(backend):
    units = await new_units(backend, 7)
    busy, idle = (
        await make_instrument(backend, unit_id=units[0][0]),
        await make_instrument(backend, unit_id=units[0][0]),
    )
    special = await make_instrument(backend, unit_id=units[0][0])
    figures = [Figures(unit_id=u, unit_name=name, usage_rate=0.6) for u, name in units]
    instruments = [
        InstrumentRow(
            busy.instrument_id, units[0][0], "通用仪器甲", "0301", True, 0.30
        ),  # at 30%: not flagged
        InstrumentRow(idle.instrument_id, units[0][0], "通用仪器乙", "0301", True, 0.2999),
        InstrumentRow(special.instrument_id, units[0][0], "专用仪器", "0302", False, 0.05),  # not generic
    ]
    async with backend.runtime.session_maker() as session:
        async with session.begin():
            evaluation = await store_evaluation(
                session,
                region_code="330100",
                year=9999,  # the latest year of any test: no later publication supersedes its flags
                opened_by=(await principal_of(session, "demo-science-bureau")).user_id,
                rules=RULES,
                units=figures,
                instruments=instruments,
            )
        evaluation_id = evaluation.id
        # a draft is nobody's business outside the bureau: the reads say nothing yet
        assert await published_grades(session, region_code="330100", year=9999) == {}
        assert await low_usage_flags(session, unit_id=units[0][0]) == []
        officer = await principal_of(session, "demo-science-bureau")
        await transition(session, officer, evaluation_id, "submit")
        await transition(session, officer, evaluation_id, "publish")
        got = await published_grades(session, region_code="330100", year=9999)
        assert set(got) == {u for u, _ in units}
        assert list(got.values()).count(Grade.excellent) == 1  # 7 units: at most 1
        results = await published_results(session, region_code="330100", year=9999)
        assert [r.rank for r in results] == list(range(1, 8))
        flags = await low_usage_flags(session, unit_id=units[0][0])
        assert [(f.instrument_id, f.category_code, f.year) for f in flags] == [
            (idle.instrument_id, "0301", 9999)
        ]
