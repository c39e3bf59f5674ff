"""Objects for the console matrix's evaluation and complaint rows (tests/console/test_page_matrix.py)."""

from __future__ import annotations

import itertools
from typing import Any

from accounts.demo import demo_id
from tests.attack.test_authz_matrix import R1, SB, UA
from tests.evaluation.world import Figures, draft, new_units, spread

ZJLG = demo_id("unit-zjlg")
YEARS = itertools.count(5000)  # drafts of hand-built figures: years nothing else uses
OV = "/api/v1/oversight"
FRESH = ("fresh_evaluation", "fresh_result", "fresh_adjustment", "fresh_objection", "fresh_complaint")


async def evaluation_with_zjlg(backend: Any, client: Any, headers: dict[str, str]) -> tuple[str, str]:
    """A draft 杭州 evaluation in which 之江理工 takes part: (evaluation id, 之江理工's result id)."""
    others = await new_units(backend, 2)
    evaluation_id = await draft(
        backend,
        next(YEARS),
        [Figures(unit_id=ZJLG, unit_name="之江理工大学分析测试中心"), *spread(others, [0.3, 0.5])],
    )
    r = await client.get(f"{OV}/evaluations/{evaluation_id}", headers=headers)
    return evaluation_id, next(x["id"] for x in r.json()["results"] if x["unit_id"] == str(ZJLG))


async def fresh_object(name: str, backend: Any, client: Any, headers: dict[str, dict[str, str]]) -> str:
    if name == "fresh_complaint":
        r = await client.post(
            "/api/v1/complaints", json={"unit_id": str(ZJLG), "text": "矩阵：服务不到位"}, headers=headers[R1]
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])
    evaluation_id, result_id = await evaluation_with_zjlg(backend, client, headers[SB])
    if name == "fresh_evaluation":
        return evaluation_id
    if name == "fresh_result":
        return result_id
    if name == "fresh_adjustment":
        body = {"score": 88, "reason": "矩阵：复核调整"}
        r = await client.post(
            f"{OV}/evaluation-results/{result_id}/adjustments", json=body, headers=headers[SB]
        )
    else:
        body = {"reason": "矩阵：数据有误请核实"}
        r = await client.post(
            f"{OV}/evaluation-results/{result_id}/objections", json=body, headers=headers[UA]
        )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])
