"""The authorisation matrix's rows for complaints and the yearly evaluation (issue 22, 24)."""

from __future__ import annotations

from typing import Any

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

C = "/api/v1/complaints"


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
