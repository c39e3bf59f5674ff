"""Remembered search answers (database engine): a repeated search is answered from memory, and
never once the index has changed — through the worker's index updates or a full rebuild."""

from __future__ import annotations

import uuid
from typing import Any

from msgspec.structs import replace
from sqlalchemy import update

from catalogue.models import Instrument
from search.backend import SearchQuery
from search.cache import AnswerCache, SharedAnswers
from search.database import DatabaseSearch
from search.dependencies import SEARCH_BACKEND
from search.sync import reindex
from tests.catalogue.helpers import instrument_body
from tests.search.helpers import search
from yixiang.store import RedisStore


async def published(client: Any, backend: Any, login: Any, **changes: Any) -> str:
    staff, admin = await login("demo-provider"), await login("demo-unit-admin")
    body = instrument_body(**changes)
    created = await client.post("/api/v1/provider/instruments", json=body, headers=staff)
    assert created.status_code == 201, created.text
    instrument_id: str = created.json()["id"]
    await client.post(f"/api/v1/provider/instruments/{instrument_id}/submit", headers=staff)
    approved = await client.post(f"/api/v1/provider/instruments/{instrument_id}/approve", headers=admin)
    assert approved.status_code == 200, approved.text
    await backend.runtime.worker().drain()
    return instrument_id


async def test_a_repeated_search_is_remembered_until_an_edit_reaches_the_index(client, backend, login):
    engine = backend.runtime.services[SEARCH_BACKEND]
    assert isinstance(engine, DatabaseSearch)
    code = f"XC{uuid.uuid4().hex[:6].upper()}"
    instrument_id = await published(client, backend, login, name="核磁共振波谱仪", model=code)

    first = await search(client, q=code)
    assert [(i["id"], i["name"]) for i in first["items"]] == [(instrument_id, "核磁共振波谱仪")]
    hits, misses = engine.answers.hits, engine.answers.misses
    assert await search(client, q=code) == first
    # answered from memory (the page, and the live-status facet's count over monitored instruments)
    assert engine.answers.hits > hits and engine.answers.misses == misses

    staff = await login("demo-provider")
    renamed = await client.put(
        f"/api/v1/provider/instruments/{instrument_id}",
        json=instrument_body(name="激光拉曼光谱仪", model=code),
        headers=staff,
    )
    assert renamed.status_code == 200, renamed.text
    # Until the worker updates the index the remembered answer is still the index's answer.
    assert (await search(client, q=code))["items"][0]["name"] == "核磁共振波谱仪"
    await backend.runtime.worker().drain()
    assert (await search(client, q=code))["items"][0]["name"] == "激光拉曼光谱仪"
    assert (await search(client, q=f"核磁 {code}"))["total"] == 0


async def test_searches_among_different_long_lists_of_instruments_get_their_own_answers(
    client, backend, login
):
    # the live-status facet searches among hundreds of monitored instruments: such a list is
    # remembered by its digest, and two lists must never share an answer
    engine = backend.runtime.services[SEARCH_BACKEND]
    code = f"XL{uuid.uuid4().hex[:6].upper()}"
    first = await published(client, backend, login, name="扫描电子显微镜", model=code)
    second = await published(client, backend, login, name="扫描电子显微镜", model=code)
    others = tuple(str(uuid.uuid4()) for _ in range(40))
    found = {}
    for wanted in (first, second, first):
        async with backend.runtime.session_maker() as session:
            answer = await engine.search(session, SearchQuery(q=code, ids=(*others, wanted)))
        found.setdefault(wanted, []).append([h.document.id for h in answer.hits])
    assert found == {first: [[first], [first]], second: [[second]]}
    assert engine.answers.hits >= 1  # the repeated list was answered from memory


async def test_a_rebuild_replaces_remembered_answers(client, backend, login):
    runtime = backend.runtime
    code = f"XR{uuid.uuid4().hex[:6].upper()}"
    instrument_id = await published(client, backend, login, name="X射线衍射仪", model=code)
    assert (await search(client, q=code))["items"][0]["name"] == "X射线衍射仪"

    # A change that reached the catalogue without its event: only a rebuild brings it in.
    async with runtime.session_maker() as session, session.begin():
        await session.execute(
            update(Instrument).where(Instrument.id == uuid.UUID(instrument_id)).values(name="单晶衍射仪")
        )
    assert (await search(client, q=code))["items"][0]["name"] == "X射线衍射仪"
    await reindex(runtime.session_maker, runtime.services[SEARCH_BACKEND])
    assert (await search(client, q=code))["items"][0]["name"] == "单晶衍射仪"


async def test_a_transaction_that_writes_the_index_finds_its_write_and_a_rollback_leaves_no_answer(
    client, backend, login
):
    engine = backend.runtime.services[SEARCH_BACKEND]
    code, written = (f"X{kind}{uuid.uuid4().hex[:6].upper()}" for kind in "TU")
    instrument_id = await published(client, backend, login, name="激光共聚焦显微镜", model=code)
    async with backend.runtime.session_maker() as session, session.begin():
        document = next(d for d in await engine.all_documents(session) if d.id == instrument_id)
        await engine.upsert(session, [replace(document, model=written)])
        inside = await engine.search(session, SearchQuery(q=written))
        assert [h.document.id for h in inside.hits] == [instrument_id]  # its own write
        await session.rollback()

    async def found() -> list[str]:
        async with backend.runtime.session_maker() as session, session.begin():
            return [h.document.id for h in (await engine.search(session, SearchQuery(q=written))).hits]

    assert await found() == []
    # The next write takes the generation the rolled-back one had taken: what that one found
    # was never remembered under it.
    async with backend.runtime.session_maker() as session, session.begin():
        await engine.upsert(session, [document])
    assert await found() == []
    assert (await search(client, q=written))["total"] == 0
    assert [i["id"] for i in (await search(client, q=code))["items"]] == [instrument_id]


async def test_another_sort_or_page_counts_what_the_index_holds_now(client, backend, login):
    code = f"XS{uuid.uuid4().hex[:6].upper()}"
    first = await published(client, backend, login, name="扫描电子显微镜", model=code)
    by_relevance = await search(client, q=code)
    assert by_relevance["total"] == 1
    by_price = await search(client, q=code, sort="price")
    assert (by_price["total"], by_price["facets"]) == (1, by_relevance["facets"])

    # An instrument indexed since: every sort and page counts it, none the remembered 1.
    second = await published(client, backend, login, name="扫描电子显微镜", model=code, region_code="330212")
    for sort in ("rating", "price", "relevance"):
        page = await search(client, q=code, sort=sort, limit=1)
        assert page["total"] == 2, sort
        assert {f["code"]: f["count"] for f in page["facets"]["region"]} == {"330100": 1, "330200": 1}
        following = await search(client, q=code, sort=sort, limit=1, cursor=page["next_cursor"])
        assert following["total"] == 2
        assert {page["items"][0]["id"], following["items"][0]["id"]} == {first, second}


def test_the_least_recently_used_answer_goes_first_and_zero_entries_remember_nothing():
    answers: AnswerCache[str] = AnswerCache(2)
    answers.put("核磁", "a")
    answers.put("电镜", "b")
    assert answers.get("核磁") == "a"  # now the most recently used
    answers.put("质谱", "c")
    assert (answers.get("电镜"), answers.get("核磁"), answers.get("质谱")) == (None, "a", "c")
    assert len(answers) == 2

    nothing: AnswerCache[str] = AnswerCache(0)
    nothing.put("核磁", "a")
    assert nothing.get("核磁") is None and len(nothing) == 0


async def test_an_answer_one_process_computed_is_found_by_another_until_the_index_changes(
    client, backend, login
):
    # Two API processes as the shared store (Redis on PostgreSQL runs) sees them: the second
    # remembers nothing of its own, and finds the first one's answer there.
    code = f"XP{uuid.uuid4().hex[:6].upper()}"
    first = await published(client, backend, login, name="透射电子显微镜", model=code)
    store = backend.runtime.store
    computing = DatabaseSearch(cache_entries=0, shared=SharedAnswers(store, 60))
    finding = DatabaseSearch(cache_entries=0, shared=SharedAnswers(store, 60))

    async def ids(engine: DatabaseSearch) -> list[str]:
        async with backend.runtime.session_maker() as session:
            answer = await engine.search(session, SearchQuery(q=code))
        return [h.document.id for h in answer.hits]

    assert await ids(computing) == [first]
    assert computing.shared is not None and computing.shared.hits == 0
    assert await ids(finding) == [first]
    assert finding.shared is not None and finding.shared.hits == 1  # the answer, found shared

    # An index write: the shared answer is of a generation no reader asks for any more.
    second = await published(client, backend, login, name="透射电子显微镜", model=code)
    assert sorted(await ids(finding)) == sorted([first, second])
    assert finding.shared.hits == 1


async def test_the_shared_answers_unreachable_a_search_is_computed(client, backend, login):
    code = f"XU{uuid.uuid4().hex[:6].upper()}"
    first = await published(client, backend, login, name="透射电子显微镜", model=code)
    down = RedisStore("redis://127.0.0.1:1/0")  # nothing listens there: refused at once
    engine = DatabaseSearch(cache_entries=0, shared=SharedAnswers(down, 60))
    try:
        for _ in range(2):
            async with backend.runtime.session_maker() as session:
                answer = await engine.search(session, SearchQuery(q=code))
            assert [h.document.id for h in answer.hits] == [first]
    finally:
        await down.close()
    assert engine.shared is not None and engine.shared.misses == 4  # the page and its counts, twice
