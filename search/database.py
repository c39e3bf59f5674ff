"""The database-backed search index: the embedded default (SQLite FTS5) and PostgreSQL (tsvector).

One narrow row per document in ``search_documents`` (filters, facets, sort keys), the document
itself in ``search_payloads``; the full-text side is engine specific: SQLite's FTS5 table with
filter tags and a table of sort keys (search/sqlite_index.py), PostgreSQL's GIN-indexed ``tsv``
column (search/postgres_index.py). Query terms are ANDed;
each term matches its synonym groups' tokens, its own token, its bigrams (two-character Chinese
words always work), a prefix if it was the last word typed, and for Latin words of five or more
letters the indexed words one edit away (typo tolerance, like Meilisearch's default). Before
that, a query typed by sound is read as it was meant (search/phonetic.py: 扫苗电镜 is 扫描电镜),
and the pinyin or initials of a vocabulary term (hecigongzhen, hc) match the term's groups. A
model is also indexed glued ("MCR 302e" as mcr302e), so a query without separators finds it.

A query reads its matches once, as narrow rows, for the page, the total and the facets alike,
and its answer is remembered until the next index write (search/cache.py).
"""

from __future__ import annotations

import functools
import hashlib
import math
import uuid
import zlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from msgspec.structs import replace
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from search import postgres_index, sqlite_index
from search.backend import Hit, Mode, SearchDocument, SearchQuery, SearchResult, Sort
from search.cache import AnswerCache, SharedAnswers
from search.models import SearchDocumentRow, SearchIndexState, SearchPayloadRow, SearchTerm
from search.phonetic import correct, vocabulary
from search.sqlite_index import doc_number
from search.text import (
    QueryTerm,
    bigrams,
    compact_model,
    gram_tokens,
    highlight,
    index_tokens,
    latin_vocabulary,
    normalize,
    parse_query,
    synonyms,
    typo_variants,
)
from yixiang.db import is_postgres, utcnow
from yixiang.driver_statements import DriverStatement, single_statements

D = SearchDocumentRow
P = SearchPayloadRow
MIN_TYPO_LENGTH = 5
CACHE_ENTRIES = 500  # answers remembered per process, ~1.1 kB each compressed and ~0.3 kB its key

# Every search reads it (on the driver on PostgreSQL: SQLAlchemy's execution path cost more than
# the read itself).
GENERATION = DriverStatement(sa.select(SearchIndexState.generation).where(SearchIndexState.id == 1))
GENERATION_READ = "search_generation_read"  # session.info: (the transaction, the generation it read)
INDEX_WRITTEN = "search_index_written"  # session.info: the transaction that took a new generation
# Every index write takes this row first: writers queue here rather than lock documents in
# different orders, and readers of the new generation never reuse an older answer.
NEXT_GENERATION = (
    sa.update(SearchIndexState)
    .where(SearchIndexState.id == 1)
    .values(generation=SearchIndexState.generation + 1)
)


def _uniq(tokens: Sequence[str]) -> str:
    return " ".join(dict.fromkeys(t for t in tokens if t))


def row_values(doc: SearchDocument) -> dict[str, Any]:
    """The ``search_documents`` columns of a document."""
    return {
        "instrument_id": uuid.UUID(doc.id),
        "doc_number": doc_number(doc.id),
        "unit_id": uuid.UUID(doc.unit_id),
        "province_code": doc.province_code,
        "city_code": doc.city_code,
        "region_code": doc.region_code,
        "category_code": doc.category_code,
        "category_parent": doc.category_parent,
        "machine_time": Mode.machine_time.value in doc.modes,
        "self_operation": Mode.self_operation.value in doc.modes,
        "sample_testing": Mode.sample_testing.value in doc.modes,
        "voucher_eligible": doc.voucher_eligible,
        "min_price_fen": doc.min_price_fen,
        "rating_sort": doc.rating_sort,
        "latitude": doc.latitude,
        "longitude": doc.longitude,
        "indexed_at": utcnow(),
    }


def token_values(doc: SearchDocument) -> dict[str, Any]:
    """The four token texts of a document (``search_fts`` columns, ``tsv`` on PostgreSQL)."""
    group_tokens = [g.token for g in synonyms().tag([doc.name, doc.name_en, *doc.aliases, doc.model])]
    name_text = " ".join([doc.name, doc.name_en, *doc.aliases, doc.model])
    body_text = " ".join(
        [
            doc.manufacturer,
            doc.category_name,
            doc.category_parent_name,
            doc.unit_name,
            doc.city_name,
            doc.district_name,
            doc.lab,
            *doc.service_names,
            *doc.specs,
        ]
    )
    return {
        "doc_number": doc_number(doc.id),
        "name_tokens": _uniq([*index_tokens(name_text), compact_model(doc.model)]),
        "keyword_tokens": _uniq(group_tokens),
        "body_tokens": _uniq(index_tokens(body_text)),
        "grams": _uniq(gram_tokens(" ".join([doc.name, *doc.aliases, doc.category_name]))),
    }


class _Matcher:
    """A parsed query turned into an FTS5 MATCH string or a tsquery, plus highlight needles."""

    def __init__(self, terms: Sequence[QueryTerm], typos: dict[str, list[str]]):
        self.terms = terms
        self.typos = typos

    def _alternatives(self, term: QueryTerm) -> list[tuple[str, ...]]:
        """OR of ANDs: each alternative is a conjunction of (token, is_prefix) encoded as 'tok' or 'tok*'."""
        syn = synonyms()
        alts: list[tuple[str, ...]] = [(syn.groups[g - 1].token,) for g in term.groups]
        if term.kind == "latin":
            alts.append((term.text + ("*" if term.prefix else ""),))
            alts.extend((variant,) for variant in self.typos.get(term.text, []))
        else:
            if len(term.text) == 1:
                alts.append((term.text + "*",))
            else:
                alts.append((term.text,))
                if len(term.text) > 2:
                    alts.append(tuple(bigrams(term.text)))
                if term.prefix and len(term.text) >= 2:
                    alts.append((term.text + "*",))
        return list(dict.fromkeys(alts))

    def fts5(self) -> str:
        """The query's words as an FTS5 expression (columns are chosen by sqlite_index)."""

        def tok(t: str) -> str:
            return f'"{t[:-1]}"*' if t.endswith("*") else f'"{t}"'

        clauses = []
        for term in self.terms:
            alts = [" AND ".join(tok(t) for t in alt) for alt in self._alternatives(term)]
            clauses.append("(" + " OR ".join(f"({a})" for a in alts) + ")")
        return " AND ".join(clauses)

    def tsquery(self) -> str:
        def tok(t: str) -> str:
            return f"'{t[:-1]}':*" if t.endswith("*") else f"'{t}'"

        clauses = []
        for term in self.terms:
            alts = [" & ".join(tok(t) for t in alt) for alt in self._alternatives(term)]
            clauses.append("(" + " | ".join(f"({a})" for a in alts) + ")")
        return " & ".join(clauses)

    def needles(self) -> list[str]:
        syn = synonyms()
        found: list[str] = []
        for term in self.terms:
            found.append(term.text)
            found.extend(self.typos.get(term.text, []))
            for g in term.groups:
                found.extend(syn.groups[g - 1].normalized)
        return found


class DatabaseSearch:
    name = "database"

    def __init__(self, cache_entries: int = CACHE_ENTRIES, shared: SharedAnswers | None = None) -> None:
        # Kept encoded: bytes are invisible to the garbage collector, whose full passes over
        # thousands of remembered documents paused every search in flight (~50 µs to decode).
        self.answers: AnswerCache[bytes] = AnswerCache(cache_entries)
        self.shared = shared

    # --- writing --------------------------------------------------------------------------
    async def upsert(self, session: AsyncSession, documents: Sequence[SearchDocument]) -> None:
        if not documents:
            return
        await _next_generation(session)
        await self._write(session, documents)

    async def delete(self, session: AsyncSession, ids: Sequence[str]) -> None:
        if not ids:
            return
        await _next_generation(session)
        await self._remove(session, ids)

    async def _write(self, session: AsyncSession, documents: Sequence[SearchDocument]) -> None:
        """Replace these documents' rows (the caller has taken the next generation)."""
        await self._remove(session, [d.id for d in documents])
        rows = [row_values(d) for d in documents]
        tokens = [token_values(d) for d in documents]
        if is_postgres(session):
            await session.execute(
                postgres_index.PG_INSERT, [{**r, **t} for r, t in zip(rows, tokens, strict=True)]
            )
        else:
            await session.execute(sa.insert(D), rows)
            await session.execute(
                sqlite_index.FTS_INSERT,
                [{**t, "tags": sqlite_index.tags(d)} for d, t in zip(documents, tokens, strict=True)],
            )
            await session.execute(
                sqlite_index.KEYS_INSERT,
                [sqlite_index.key_values(d, r["doc_number"]) for d, r in zip(documents, rows, strict=True)],
            )
        payloads = [{"instrument_id": uuid.UUID(d.id), "document": msgspec.to_builtins(d)} for d in documents]
        await session.execute(sa.insert(P), payloads)
        vocabulary: set[str] = set()
        for d in documents:
            vocabulary |= latin_vocabulary(" ".join([d.name_en, d.model, d.manufacturer, *d.aliases]))
            vocabulary |= {compact_model(d.model)} - {""}
        if vocabulary:
            insert = postgresql.insert if is_postgres(session) else sqlite.insert
            await session.execute(
                insert(SearchTerm).values([{"term": t} for t in sorted(vocabulary)]).on_conflict_do_nothing()
            )

    async def _remove(self, session: AsyncSession, ids: Sequence[str]) -> None:
        """Delete these documents' rows (the caller has taken the next generation)."""
        uuids = [uuid.UUID(i) for i in ids]
        if not is_postgres(session):
            numbers = (await session.scalars(sa.select(D.doc_number).where(D.instrument_id.in_(uuids)))).all()
            if numbers:
                listed = ",".join(str(int(n)) for n in numbers)
                await session.execute(sa.text(f"DELETE FROM search_fts WHERE rowid IN ({listed})"))
                await session.execute(sa.text(f"DELETE FROM search_keys WHERE doc_number IN ({listed})"))
        await session.execute(sa.delete(D).where(D.instrument_id.in_(uuids)))
        await session.execute(sa.delete(P).where(P.instrument_id.in_(uuids)))

    async def rebuild(self, session: AsyncSession, documents: AsyncIterator[list[SearchDocument]]) -> int:
        """Replace everything in the caller's transaction: readers see the old index until commit."""
        await _next_generation(session)
        await session.execute(sa.delete(D))
        await session.execute(sa.delete(P))
        await session.execute(sa.delete(SearchTerm))
        if not is_postgres(session):
            await session.execute(sa.text("DELETE FROM search_fts"))
            await session.execute(sa.text("DELETE FROM search_keys"))
        count = 0
        async for batch in documents:
            if batch:
                await self._write(session, batch)
            count += len(batch)
        if not is_postgres(session):
            # One b-tree per token instead of the segments and delete markers the rebuild left
            # (a few seconds for 100,000 documents; matching gets ~15% cheaper).
            await session.execute(sa.text("INSERT INTO search_fts(search_fts) VALUES('optimize')"))
        return count

    async def all_documents(self, session: AsyncSession) -> list[SearchDocument]:
        rows = (await session.scalars(sa.select(P.document))).all()
        docs = [msgspec.convert(r, SearchDocument) for r in rows]
        return sorted(docs, key=lambda d: d.id)

    # --- reading --------------------------------------------------------------------------
    async def _typos(self, session: AsyncSession, terms: Sequence[QueryTerm]) -> dict[str, list[str]]:
        """Indexed words one edit away from each long Latin term that is not itself indexed:
        one query for every term's spelling and variants together."""
        candidates = {
            term.text: typo_variants(term.text)
            for term in terms
            if term.kind == "latin"
            and not term.groups
            and len(term.text) >= MIN_TYPO_LENGTH
            and term.text.isascii()
        }
        if not candidates:
            return {}
        wanted = sorted(set(candidates).union(*candidates.values()))
        lookup = postgres_index.TERMS_IN_ARRAY if is_postgres(session) else sqlite_index.TERMS_IN_JSON
        known = set((await session.scalars(lookup, {"terms": wanted})).all())
        return {
            text: sorted(variants & known)
            for text, variants in candidates.items()
            if text not in known and variants & known
        }

    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResult:
        """The answer to ``query``: remembered if the index has not changed since it was last
        computed (the generation is read first), else computed."""
        generation = await _generation(session)
        key = _memory_key(session, generation, _answer_key(query))
        remembered = await self._recall(key)
        if remembered is not None:
            return msgspec.msgpack.decode(zlib.decompress(remembered), type=SearchResult)
        connection = await session.connection()
        # Another sort or page of the same words and filters: the counts are the same.
        counts_key = _memory_key(session, generation, "counts", _answer_key(_counted(query)))
        known = await self._recall(counts_key)
        counts = None if known is None else msgspec.msgpack.decode(known, type=Counts)
        answer, counts = await self._compute(session, connection, query, counts)
        # compressed: a sixth of the size (~2 kB instead of ~12 kB an answer) for ~0.1 ms
        await self._remember(key, zlib.compress(msgspec.msgpack.encode(answer), 1))
        if known is None:
            await self._remember(counts_key, msgspec.msgpack.encode(counts))
        return answer

    async def count_among(
        self, session: AsyncSession, query: SearchQuery, groups: dict[str, frozenset[str]]
    ) -> dict[str, int]:
        """Per group of ids, how many match: the matches among all the groups' ids read once, as
        ids only, and remembered like answers (the same generation, the same query)."""
        among = frozenset().union(*groups.values())
        if query.ids is not None:
            among &= frozenset(query.ids)
        if not among:
            return dict.fromkeys(groups, 0)
        narrowed = replace(
            query, ids=tuple(sorted(among)), sort=Sort.relevance, offset=0, limit=0, with_facets=False
        )
        key = _memory_key(session, await _generation(session), "ids", _answer_key(narrowed))
        remembered = await self._recall(key)
        if remembered is None:
            connection = await session.connection()
            remembered = "\n".join(sorted(await self._matching(session, connection, narrowed))).encode()
            await self._remember(key, remembered)
        matched = frozenset(remembered.decode().split("\n")) if remembered else frozenset()
        return {name: len(ids & matched) for name, ids in groups.items()}

    async def _recall(self, key: MemoryKey | None) -> bytes | None:
        """This process's memory first, then the one every process shares (kept here once found)."""
        if key is None:
            return None
        found = self.answers.get(key)
        if found is None and self.shared is not None:
            found = await self.shared.get(_shared_name(key))
            if found is not None:
                self.answers.put(key, found)
        return found

    async def _remember(self, key: MemoryKey | None, value: bytes) -> None:
        if key is not None:
            self.answers.put(key, value)
            if self.shared is not None:
                await self.shared.put(_shared_name(key), value)

    async def _matching(
        self, session: AsyncSession, connection: AsyncConnection, query: SearchQuery
    ) -> set[str]:
        _, values = await self._bound(session, query, {})
        if is_postgres(session):
            statement = postgres_index.matching(frozenset(values), query.modes, query.voucher_eligible)
            return {str(i) for i in (await connection.execute(statement, values)).scalars()}
        numbered = {doc_number(i): i for i in query.ids or ()}
        rows = await connection.execute(sqlite_index.matching(frozenset(values)), values)
        return {numbered[n] for n in rows.scalars()}

    async def _bound(
        self, session: AsyncSession, query: SearchQuery, values: dict[str, Any]
    ) -> tuple[_Matcher | None, dict[str, Any]]:
        """The query's words as the engine matches them, and its filters added to ``values``."""
        terms = _parsed(query.q)
        matcher = _Matcher(terms, await self._typos(session, terms)) if terms else None
        if is_postgres(session):
            values |= postgres_index.filter_values(query)
            if matcher is not None:
                values["match"] = matcher.tsquery()
        else:
            values |= sqlite_index.filter_values(query, matcher.fts5() if matcher else None)
        return matcher, values

    async def _compute(
        self, session: AsyncSession, connection: AsyncConnection, query: SearchQuery, known: Counts | None
    ) -> tuple[SearchResult, Counts]:
        """The answer, and the counts of its words and filters (read with the page unless known)."""
        matcher, values = await self._bound(session, query, _page_values(query))
        sort = query.sort if query.sort != Sort.distance or "lat" in values else Sort.relevance
        counting = known is None
        if is_postgres(session):
            statement = postgres_index.statement(
                frozenset(values), query.modes, query.voucher_eligible, sort, counting
            )
        else:
            statement = sqlite_index.statement(frozenset(values), sort, counting)
        # A Core statement: the connection runs it without the ORM session's per-call work.
        rows = (await connection.execute(statement, values)).all()
        by_category: dict[str, int] = {}
        by_city: dict[str, int] = {}
        documents: list[tuple[int, str]] = []
        for document, category, city, n in rows:
            if document is not None:
                documents.append((n, document))
            else:
                by_category[category] = by_category.get(category, 0) + n
                by_city[city] = by_city.get(city, 0) + n
        needles = matcher.needles() if matcher else []
        found: list[Hit] = []
        for _, raw in sorted(documents):
            doc = msgspec.json.decode(raw, type=SearchDocument)
            marks = {"name": highlight(doc.name, needles), "model": highlight(doc.model, needles)}
            found.append(Hit(document=doc, highlight=marks))
        counts = known or Counts(total=sum(by_city.values()), by_category=by_category, by_city=by_city)
        facets = {"category": counts.by_category, "region": counts.by_city} if query.with_facets else {}
        return SearchResult(hits=found, total=counts.total, facets=facets), counts


class Counts(msgspec.Struct, frozen=True):
    """The matches of a query's words and filters: how many, per category and per city."""

    total: int
    by_category: dict[str, int]
    by_city: dict[str, int]


def _counted(query: SearchQuery) -> SearchQuery:
    """What a query's counts depend on: its words and filters, not its sort, point or page."""
    return replace(
        query, sort=Sort.relevance, latitude=None, longitude=None, offset=0, limit=0, with_facets=True
    )


async def _next_generation(session: AsyncSession) -> None:
    """Take the next generation (every index write does, first); a search later in this
    transaction reads it anew, in this transaction."""
    session.info.pop(GENERATION_READ, None)
    session.info[INDEX_WRITTEN] = session.sync_session.get_transaction()
    await session.execute(NEXT_GENERATION)


async def _generation(session: AsyncSession) -> int | None:
    """The index generation, read once per transaction: a search's page and its live-status
    counts are remembered under the generation read first (one round trip fewer, and the two
    never answer from different generations' memories).

    On PostgreSQL it is read on its own, outside the search's transaction: a remembered answer
    then costs that one statement, without the transaction's BEGIN and COMMIT round trips. Safe
    because it is read before the answer is computed: an answer kept under a generation is never
    older than that generation (at most newer, when a write commits in between, and then the
    next search reads the newer generation).

    None: nothing is remembered or recalled — no index state yet, or this transaction wrote the
    index (what it finds is its own until it commits, and is gone if it rolls back; remembered
    under the generation it took, it would answer a later write's searches that reuse that
    number)."""
    here = session.sync_session.get_transaction()
    read = session.info.get(GENERATION_READ)
    if here is not None and read is not None and read[0] is here:
        return read[1]  # type: ignore[no-any-return]
    if here is not None and session.info.get(INDEX_WRITTEN) is here:
        return None
    engine = session.bind
    if isinstance(engine, AsyncEngine) and is_postgres(session):
        async with single_statements(engine) as conn:
            row = await GENERATION.first(conn, {})
    else:
        row = await GENERATION.first(await session.connection(), {})
    generation = None if row is None else row.generation
    session.info[GENERATION_READ] = (here, generation)
    return generation


MemoryKey = tuple[Any, ...]


def _memory_key(session: AsyncSession, generation: int | None, *parts: Any) -> MemoryKey | None:
    """Where an answer is remembered: per database and index generation. None without a
    generation to remember under (see ``_generation``): then nothing is remembered or recalled."""
    return None if generation is None else (session.get_bind().engine.url, generation, *parts)


def _shared_name(key: MemoryKey) -> str:
    """A memory key as a name in the shared store: the generation, and a digest of the database
    and the query (msgpack of tuples and structs: the same bytes in every process)."""
    url, generation, *parts = key
    digest = hashlib.blake2b(msgspec.msgpack.encode([_database_name(url), *parts]), digest_size=16)
    return f"search:{generation}:{digest.hexdigest()}"


@functools.lru_cache(maxsize=16)
def _database_name(url: Any) -> str:
    return str(url.render_as_string(hide_password=True))


def _answer_key(query: SearchQuery) -> SearchQuery:
    """The query as remembered answers are keyed: a long list of ids (the live-status facet's
    thousands of monitored instruments) by its digest, not a tuple of thousands of strings."""
    if query.ids is None or len(query.ids) <= 16:
        return query
    digest = hashlib.blake2b("\n".join(query.ids).encode(), digest_size=16).hexdigest()
    return replace(query, ids=(f"digest:{len(query.ids)}:{digest}",))


@functools.lru_cache(maxsize=4096)
def _parsed(q: str) -> tuple[QueryTerm, ...]:
    """Parsed queries (normalisation, what a query typed by sound meant, synonyms, jieba): the
    same few queries come again and again. Pinyin and initials of the vocabulary (hecigongzhen,
    hc) match their synonym groups, and the word itself (a model "HC-1" still matches "hc")."""
    keys = vocabulary().latin_keys
    terms = parse_query(correct(normalize(q)))
    return tuple(QueryTerm(t.text, t.kind, keys[t.text]) if _is_key(t, keys) else t for t in terms)


def _is_key(term: QueryTerm, keys: dict[str, tuple[int, ...]]) -> bool:
    return term.kind == "latin" and not term.groups and term.text in keys


def _page_values(query: SearchQuery) -> dict[str, Any]:
    """The page and the point of a distance sort, as both engines bind them."""
    values: dict[str, Any] = {"offset": query.offset, "limit": query.limit}
    if query.sort == Sort.distance and query.latitude is not None and query.longitude is not None:
        values["lat"], values["lng"] = query.latitude, query.longitude
        values["k"] = math.cos(math.radians(query.latitude))
    return values
