"""The purchase review's rows of the authorisation matrix (tests/attack/test_authz_matrix.py):
units file and read their own; the bureaus of the region read; its science bureau (or an expert it
appoints) decides; the science bureau appoints experts of its own region."""

from __future__ import annotations

from typing import Any

from accounts.models import Role
from tests.attack.test_authz_matrix import FB, NB, PA, SB, UA, Case, P, Scene, expect, fixed, only
from tests.booking.world import make_user
from tests.oversight.review_world import HZCL, REVIEWS, filing, new_category

EXPERTS = "/api/v1/oversight/review-experts"


async def review_cases(s: Scene) -> list[Case]:
    category = await new_category(s.backend)  # no instrument of it is flagged

    async def filed() -> str:
        r = await s.client.post(REVIEWS, json=filing(category), headers=s.headers[P])
        assert r.status_code == 201 and r.json()["status"] == "pending", r.text
        return str(r.json()["id"])

    shown = await filed()

    async def filing_one() -> tuple[str, Any]:
        return REVIEWS, filing(category)

    async def deciding() -> tuple[str, Any]:
        return f"{REVIEWS}/{await filed()}/decision", {"verdict": "调整", "reasons": "矩阵：降低配置"}

    async def appointing() -> tuple[str, Any]:
        return EXPERTS, {"username": await make_user(s.backend, HZCL, Role.researcher)}

    async def revoking() -> tuple[str, Any]:
        r = await s.client.post(EXPERTS, json=(await appointing())[1], headers=s.headers[SB])
        assert r.status_code == 201, r.text
        return f"{EXPERTS}/{r.json()['id']}/revoke", None

    readers = only(200, [P, UA, SB, FB, PA], 404)
    return [
        Case("POST /api/v1/oversight/purchase-reviews", filing_one, only(201, [P, UA], 403), fresh=True),
        Case("GET /api/v1/oversight/purchase-reviews", fixed(REVIEWS), expect(200)),
        Case("GET /api/v1/oversight/purchase-reviews/{review_id:uuid}", fixed(f"{REVIEWS}/{shown}"), readers),
        Case(
            "GET /api/v1/oversight/purchase-reviews/{review_id:uuid}/pdf",
            fixed(f"{REVIEWS}/{shown}/pdf"),
            readers,
        ),
        # readers who do not decide are told so; the others never see the review
        Case(
            "POST /api/v1/oversight/purchase-reviews/{review_id:uuid}/decision",
            deciding,
            only(200, [SB], 404) | {P: 403, UA: 403, FB: 403, PA: 403},
            fresh=True,
        ),
        Case("GET /api/v1/oversight/review-experts", fixed(EXPERTS), expect(200)),
        Case("POST /api/v1/oversight/review-experts", appointing, only(201, [SB, NB], 403), fresh=True),
        Case(
            "POST /api/v1/oversight/review-experts/{expert_id:uuid}/revoke",
            revoking,
            only(200, [SB], 404),
            fresh=True,
        ),
    ]
