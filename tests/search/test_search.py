"""What a researcher notices about search, on the demo catalogue, for every engine."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from accounts.demo import demo_id
from catalogue.models import Instrument, InstrumentStatus, PublicationStatus
from search.sync import reindex
from tests.catalogue.helpers import instrument_body
from tests.search.helpers import SEARCH, everything, search
from yixiang.clock import shanghai_today


@pytest.mark.parametrize("q", ["核磁", "NMR", "核磁共振", "nmr 600", "nmr"])
async def test_nmr_queries_put_nmr_spectrometers_first(client, engine, q):
    page = await search(client, q=q, limit=10)
    assert page["total"] >= 3
    first = page["items"][0]
    assert "核磁共振" in first["name"], (q, first)
    if "600" in q:
        assert all("600" in item["model"] for item in page["items"]), page["items"]


async def test_electron_microscope_finds_scanning_and_transmission(client, engine):
    names = [item["name"] for item in await everything(client, q="电镜")]
    assert any("扫描电子显微镜" in n for n in names)
    assert any("透射电子显微镜" in n for n in names)
    # Name matches rank first (an instrument kept in the 电子显微镜实验室 may follow).
    first_page = names[:20]
    assert all("电子显微镜" in n or "电镜" in n for n in first_page), first_page


@pytest.mark.slow
async def test_wrong_script_or_one_typo_still_finds_it(client, engine):
    simplified = {i["id"] for i in await everything(client, q="电镜")}
    assert {i["id"] for i in await everything(client, q="電鏡")} == simplified
    assert (await search(client, q="ＮＭＲ"))["total"] == (await search(client, q="NMR"))["total"]
    for typo, model in [
        ("SmartLav", "SmartLab"),
        ("GeminSEM", "GeminiSEM 500"),
        ("Dimensoin Icon", "Dimension Icon"),
    ]:
        models = [i["model"] for i in (await search(client, q=typo))["items"]]
        assert model in models, (typo, models)


async def test_partial_model_numbers_and_abbreviations(client, engine):
    assert "JEM-F200" in [i["model"] for i in (await search(client, q="JEM-F2"))["items"]]
    names = [i["name"] for i in (await search(client, q="ICP-MS"))["items"]]
    assert names and all(n.startswith("电感耦合等离子体质谱仪") for n in names)


@pytest.mark.parametrize(
    ("sentence", "words"),
    [
        ("明天下午三点到五点的核磁", "核磁"),
        ("附近有没有液相", "液相"),
        ("我想预约ICP-MS 下周一", "ICP-MS"),
        ("find NMR tomorrow afternoon", "NMR"),
        ("扫瞄电镜", "扫描电镜"),  # a common misspelling is a term of its synonym group
    ],
)
async def test_a_whole_sentence_searches_for_its_instrument_words(client, engine, sentence, words):
    found = await search(client, q=sentence, limit=50)
    expected = await search(client, q=words, limit=50)
    assert found["total"] == expected["total"] > 0
    if words in sentence:  # the same query terms: the same ranking
        assert [i["id"] for i in found["items"]] == [i["id"] for i in expected["items"]]
    else:  # a misspelling finds the same instruments; the right spelling may rank its own matches first
        assert await every_id(client, sentence) == await every_id(client, words)


async def every_id(client, q: str) -> set[str]:
    """Every instrument a query finds, page after page."""
    ids: set[str] = set()
    page = await search(client, q=q, limit=50)
    while True:
        ids.update(i["id"] for i in page["items"])
        if not page["next_cursor"]:
            return ids
        page = await search(client, q=q, limit=50, cursor=page["next_cursor"])


async def test_matched_terms_are_highlighted(client, engine):
    first = (await search(client, q="核磁"))["items"][0]
    assert "<em>" in first["highlight"]["name"]
    assert first["highlight"]["name"].replace("<em>", "").replace("</em>", "") == first["name"]


async def _expected(backend: Any, **where: Any) -> set[str]:
    """The same question asked of the catalogue tables directly."""
    async with backend.runtime.session_maker() as session:
        rows = (
            await session.scalars(
                select(Instrument).where(
                    Instrument.publication == PublicationStatus.published,
                    Instrument.status != InstrumentStatus.retired,
                    Instrument.open_to_public.is_(True),
                )
            )
        ).all()
    found = set()
    for r in rows:
        prices = [i.external_price_fen for i in r.service_items if i.active]
        low = min(prices) if prices else None
        if "province" in where and not r.region_code.startswith(where["province"][:2]):
            continue
        if "city" in where and not r.region_code.startswith(where["city"][:4]):
            continue
        if "parent" in where and not r.category_code.startswith(where["parent"]):
            continue
        if "voucher" in where and not r.voucher_eligible:
            continue
        if "price_max" in where and (low is None or low > where["price_max"]):
            continue
        if "self_operation" in where and not r.self_operation:
            continue
        if "unit" in where and r.unit_id != where["unit"]:
            continue
        found.add(str(r.id))
    return found


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"region": "330000"}, {"province": "330000"}),
        ({"region": "330200", "voucher": "true"}, {"city": "330200", "voucher": True}),
        ({"category": "01", "price_max": 30000}, {"parent": "01", "price_max": 30000}),
        ({"mode": "self_operation", "region": "330100"}, {"self_operation": True, "city": "330100"}),
    ],
)
async def test_filters_and_facets_agree_with_the_database(client, backend, engine, params, where):
    expected = await _expected(backend, **where)
    first = await search(client, **params, limit=50)
    items = await everything(client, **params)
    assert first["total"] == len(expected) == len(items)
    assert {i["id"] for i in items} == expected
    by_city: dict[str, int] = {}
    for item in items:
        by_city[item["city"]["code"]] = by_city.get(item["city"]["code"], 0) + 1
    assert {f["code"]: f["count"] for f in first["facets"]["region"]} == by_city
    assert sum(f["count"] for f in first["facets"]["category"]) == len(expected)


async def test_empty_query_browses_voucher_instruments_of_a_city(client, backend, engine):
    items = await everything(client, region="330300", voucher="true")
    assert items and all(i["city"]["name"] == "温州市" and i["voucher_eligible"] for i in items)


@pytest.mark.slow
async def test_cursor_pages_return_each_instrument_once(client, engine):
    seen: list[str] = []
    page = await search(client, q="显微镜", limit=7)
    while True:
        seen += [i["id"] for i in page["items"]]
        if not page["next_cursor"]:
            break
        page = await search(client, q="显微镜", limit=7, cursor=page["next_cursor"])
    assert len(seen) == len(set(seen)) == page["total"]


async def test_sorting_by_price_rating_and_distance(client, engine):
    prices = [
        i["lowest_price_fen"] for i in (await search(client, q="电镜", sort="price", limit=50))["items"]
    ]
    assert prices == sorted(prices)
    ratings = [
        i["rating"]["mean"] or 0
        for i in (await search(client, region="330000", sort="rating", limit=50))["items"]
    ]
    assert ratings == sorted(ratings, reverse=True)
    near_ningbo = (await search(client, q="质谱", sort="distance", lat=29.87, lng=121.54, limit=50))["items"]
    distances = [i["distance_km"] for i in near_ningbo]
    assert distances == sorted(distances)
    assert near_ningbo[0]["city"]["name"] == "宁波市"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"region": "999999"}, "region"),
        ({"price_max": -1}, "price_max"),
        ({"limit": 10000}, "limit"),
        ({"category": "0X"}, "category"),
        ({"sort": "distance"}, "lat"),
        ({"sort": "cheapest"}, "sort"),
        ({"price_min": 500, "price_max": 100}, "price_min"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"available_from": "2030-01-10", "available_to": "2030-01-01"}, "available_to"),
    ],
)
async def test_bad_filters_answer_400_naming_the_field(client, engine, params, field):
    response = await client.get(SEARCH, params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert field in error["message"], error


async def test_an_edit_is_searchable_after_the_worker_runs(client, backend, login, engine):
    staff, admin = await login("demo-provider"), await login("demo-unit-admin")
    code = f"XQ{uuid.uuid4().hex[:6].upper()}"
    created = await client.post(
        "/api/v1/provider/instruments", json=instrument_body(name="量子隧穿谱仪", model=code), headers=staff
    )
    assert created.status_code == 201, created.text
    instrument_id = created.json()["id"]
    await client.post(f"/api/v1/provider/instruments/{instrument_id}/submit", headers=staff)
    await backend.runtime.worker().drain()
    assert (await search(client, q=code))["total"] == 0  # not published yet
    approved = await client.post(f"/api/v1/provider/instruments/{instrument_id}/approve", headers=admin)
    assert approved.status_code == 200, approved.text
    await backend.runtime.worker().drain()
    assert [i["id"] for i in (await search(client, q=code))["items"]] == [instrument_id]

    renamed = await client.put(
        f"/api/v1/provider/instruments/{instrument_id}",
        json=instrument_body(name="隧道扫描显微镜", model=code),
        headers=staff,
    )
    assert renamed.status_code == 200, renamed.text
    await backend.runtime.worker().drain()
    assert (await search(client, q=f"隧道 {code}"))["total"] == 1
    assert (await search(client, q=f"量子隧穿 {code}"))["total"] == 0

    withdrawn = await client.post(f"/api/v1/provider/instruments/{instrument_id}/withdraw", headers=staff)
    assert withdrawn.status_code == 200
    await backend.runtime.worker().drain()
    assert (await search(client, q=code))["total"] == 0


async def test_reindex_rebuilds_an_identical_index(backend, engine):
    runtime = backend.runtime
    async with runtime.session_maker() as session:
        before = await engine.all_documents(session)
    assert await reindex(runtime.session_maker, engine) == len(before)
    async with runtime.session_maker() as session:
        after = await engine.all_documents(session)
    assert after == before


async def test_nothing_personal_is_indexed(backend, engine):
    async with backend.runtime.session_maker() as session:
        documents = await engine.all_documents(session)
        contacts = (await session.execute(select(Instrument.contact_phone, Instrument.contact_email))).all()
    text = repr(documents)
    assert documents
    for phone, email in contacts:
        assert (not phone or phone not in text) and (not email or email not in text)


async def test_free_time_filter_leaves_out_an_instrument_closed_all_week(client, login, engine):
    staff = await login("demo-provider")
    nmr = str(demo_id("instrument:unit-zjlg:0"))  # the demo's first instrument: AVANCE NEO 600
    monday = shanghai_today() + timedelta(days=21 - shanghai_today().weekday())
    params = {
        "q": "AVANCE NEO 600",
        "available_from": monday.isoformat(),
        "available_to": (monday + timedelta(days=6)).isoformat(),
    }
    assert nmr in [i["id"] for i in (await search(client, **params))["items"]]
    closure = await client.post(
        f"/api/v1/provider/instruments/{nmr}/closures",
        json={
            "start": f"{(monday - timedelta(days=1)).isoformat()}T00:00:00+08:00",
            "end": f"{(monday + timedelta(days=8)).isoformat()}T00:00:00+08:00",
            "reason": "年度维护",
        },
        headers=staff,
    )
    assert closure.status_code == 201, closure.text
    try:
        assert nmr not in [i["id"] for i in (await search(client, **params))["items"]]
        assert nmr in [i["id"] for i in (await search(client, q="AVANCE NEO 600"))["items"]]
    finally:
        await client.delete(
            f"/api/v1/provider/instruments/{nmr}/closures/{closure.json()['id']}", headers=staff
        )


async def test_an_edit_indexed_during_a_rebuild_survives_it(client, backend, login, engine):
    """The rebuild has read the catalogue; an edit lands and its event is indexed; then the rebuilt
    index takes over (Meilisearch swaps it in). The edit must still be found."""
    if backend.name == "sqlite":
        pytest.skip("on SQLite the rebuild holds the write lock: no edit can land during it")
    staff, admin = await login("demo-provider"), await login("demo-unit-admin")
    code = f"XR{uuid.uuid4().hex[:6].upper()}"
    created = await client.post(
        "/api/v1/provider/instruments", json=instrument_body(name="量子隧穿谱仪", model=code), headers=staff
    )
    instrument_id = created.json()["id"]
    await client.post(f"/api/v1/provider/instruments/{instrument_id}/submit", headers=staff)
    await client.post(f"/api/v1/provider/instruments/{instrument_id}/approve", headers=admin)
    await backend.runtime.worker().drain()

    class EditedWhileRebuilding:
        def __getattr__(self, name: str) -> Any:
            return getattr(engine, name)

        async def rebuild(self, session: Any, documents: Any) -> int:
            read = [batch async for batch in documents]  # the catalogue as the rebuild saw it
            renamed = await client.put(
                f"/api/v1/provider/instruments/{instrument_id}",
                json=instrument_body(name="隧道扫描显微镜", model=code),
                headers=staff,
            )
            assert renamed.status_code == 200, renamed.text
            await backend.runtime.worker().drain()  # the edit reaches the index being replaced

            async def as_read() -> Any:
                for batch in read:
                    yield batch

            return int(await engine.rebuild(session, as_read()))

    await reindex(backend.runtime.session_maker, EditedWhileRebuilding())
    assert [i["id"] for i in (await search(client, q=f"隧道 {code}"))["items"]] == [instrument_id]
    assert (await search(client, q=f"量子隧穿 {code}"))["total"] == 0
