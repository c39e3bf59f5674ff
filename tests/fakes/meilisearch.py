# ruff: noqa: E501  (Meilisearch error messages are quoted verbatim)
"""A protocol-faithful local Meilisearch for tests: real HTTP on loopback, the endpoints
meilisearch-python calls, and the validation a real server does on what we send.

It checks the bearer key; validates index settings (unknown fields, ranking rules, typo tolerance
bounds); rejects documents with a bad id or ``_geo``; parses filter expressions with Meilisearch's
grammar (=, !=, >, >=, <, <=, TO, IN, NOT IN, EXISTS, IS NULL, IS EMPTY, NOT, AND, OR, parentheses,
_geoRadius) and refuses attributes that are not filterable, sorts on attributes that are not
sortable, facets that are not filterable and unknown search parameters, answering with
Meilisearch's error codes. Writes are asynchronous tasks as on the real server (processed at once,
polled through /tasks). Search: words with prefix on the last one, typo tolerance
(Damerau-Levenshtein 1 from oneTypo, 2 from twoTypos), synonyms, split and concatenated words,
matchingStrategy, ranking rules
in the configured order, facet distribution, highlighting, page and offset pagination.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
import threading
import unicodedata
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jieba

BUILTIN_RULES = ("words", "typo", "proximity", "attribute", "sort", "exactness")
SETTINGS_FIELDS = {
    "searchableAttributes", "filterableAttributes", "sortableAttributes", "rankingRules", "synonyms",
    "typoTolerance", "pagination", "faceting", "displayedAttributes", "stopWords", "distinctAttribute",
}  # fmt: skip
SEARCH_FIELDS = {
    "q", "filter", "sort", "limit", "offset", "page", "hitsPerPage", "facets", "attributesToHighlight",
    "highlightPreTag", "highlightPostTag", "matchingStrategy", "attributesToRetrieve", "showRankingScore",
}  # fmt: skip
DOC_ID = re.compile(r"^[A-Za-z0-9_-]{1,511}$")
WORD = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]+")
SPLIT = "\x00split"  # marks an alternative that is one query word split in two


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, kind: str = "invalid_request") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.kind = status, code, message, kind

    def body(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "code": self.code,
            "type": self.kind,
            "link": f"https://docs.meilisearch.com/errors#{self.code}",
        }


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def words(text: str) -> list[str]:
    norm = unicodedata.normalize("NFKC", text).lower()
    out: list[str] = []
    for match in WORD.finditer(norm):
        token = match.group()
        if token[0].isascii():
            out.append(token)
        else:
            out.extend(w for w in jieba.cut(token) if w.strip())
    return out


def damerau(a: str, b: str, limit: int) -> int:
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


# --- filters ------------------------------------------------------------------------------
TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\')|(?P<op>>=|<=|!=|=|>|<|\(|\)|\[|\]|,)|(?P<word>[^\s=!<>()\[\],"\']+))'
)


class FilterParser:
    def __init__(self, text: str, filterable: list[str]) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise self.error(f"unexpected character at {pos}")
            kind = m.lastgroup or "word"
            value = m.group(kind)
            if kind == "str":
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            self.tokens.append((kind, value))
            pos = m.end()
        self.i = 0
        self.filterable = filterable

    def error(self, message: str) -> ApiError:
        return ApiError(400, "invalid_search_filter", f"Invalid filter: {message}")

    def peek(self, upper: bool = True) -> str | None:
        if self.i >= len(self.tokens):
            return None
        kind, value = self.tokens[self.i]
        return value.upper() if upper and kind == "word" else value

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise self.error("unexpected end of filter")
        self.i += 1
        return self.tokens[self.i - 1]

    def parse(self) -> Any:
        node = self.parse_or()
        if self.i != len(self.tokens):
            raise self.error(f"unexpected `{self.tokens[self.i][1]}`")
        return node

    def parse_or(self) -> Any:
        nodes = [self.parse_and()]
        while self.peek() == "OR":
            self.take()
            nodes.append(self.parse_and())
        return ("or", nodes) if len(nodes) > 1 else nodes[0]

    def parse_and(self) -> Any:
        nodes = [self.parse_not()]
        while self.peek() == "AND":
            self.take()
            nodes.append(self.parse_not())
        return ("and", nodes) if len(nodes) > 1 else nodes[0]

    def parse_not(self) -> Any:
        if self.peek() == "NOT":
            self.take()
            return ("not", self.parse_not())
        return self.parse_primary()

    def value(self) -> str:
        kind, value = self.take()
        if kind == "op":
            raise self.error(f"expected a value, found `{value}`")
        return value

    def attribute(self, name: str) -> str:
        if name not in self.filterable and not (name == "_geo"):
            available = ", ".join(sorted(self.filterable))
            raise ApiError(
                400,
                "invalid_search_filter",
                f"Attribute `{name}` is not filterable. Available filterable attributes are: `{available}`.",
            )
        return name

    def parse_primary(self) -> Any:
        if self.peek() == "(":
            self.take()
            node = self.parse_or()
            if self.peek() != ")":
                raise self.error("expected `)`")
            self.take()
            return node
        kind, name = self.take()
        if kind != "word" and kind != "str":
            raise self.error(f"expected an attribute, found `{name}`")
        if name.startswith("_geoRadius"):
            args = []
            if self.peek() != "(":
                raise self.error("`_geoRadius` expects (lat, lng, distance)")
            self.take()
            while self.peek() != ")":
                args.append(float(self.value()))
                if self.peek() == ",":
                    self.take()
            self.take()
            if len(args) != 3:
                raise self.error("`_geoRadius` expects (lat, lng, distance)")
            self.attribute("_geo")
            return ("geo", args)
        attr = self.attribute(name)
        op = self.peek()
        if op in ("=", "!=", ">", ">=", "<", "<="):
            self.take()
            return ("cmp", attr, op, self.value())
        if op == "IN" or op == "NOT":
            negate = op == "NOT"
            self.take()
            if negate:
                if self.peek() != "IN":
                    raise self.error("expected `IN` after `NOT`")
                self.take()
            if self.peek() != "[":
                raise self.error("`IN` expects a list `[...]`")
            self.take()
            values = []
            while self.peek() != "]":
                values.append(self.value())
                if self.peek() == ",":
                    self.take()
                elif self.peek() != "]":
                    raise self.error("expected `,` or `]`")
            self.take()
            node = ("in", attr, values)
            return ("not", node) if negate else node
        if op == "EXISTS":
            self.take()
            return ("exists", attr)
        if op == "IS":
            self.take()
            what = self.peek()
            if what not in ("NULL", "EMPTY"):
                raise self.error("expected `NULL` or `EMPTY` after `IS`")
            self.take()
            return ("null" if what == "NULL" else "empty", attr)
        low = self.value() if op is not None else None
        if low is not None and self.peek() == "TO":
            self.take()
            return ("range", attr, low, self.value())
        raise self.error(f"expected an operator after `{attr}`")


def _values(doc: dict[str, Any], attr: str) -> list[Any]:
    value = doc.get(attr)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _equal(actual: Any, wanted: str) -> bool:
    if isinstance(actual, bool):
        return wanted.lower() == ("true" if actual else "false")
    if isinstance(actual, (int, float)):
        try:
            return float(actual) == float(wanted)
        except ValueError:
            return False
    return str(actual).lower() == wanted.lower()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def evaluate(node: Any, doc: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "or":
        return any(evaluate(n, doc) for n in node[1])
    if kind == "and":
        return all(evaluate(n, doc) for n in node[1])
    if kind == "not":
        return not evaluate(node[1], doc)
    if kind == "cmp":
        _, attr, op, wanted = node
        values = _values(doc, attr)
        if op == "=":
            return any(_equal(v, wanted) for v in values)
        if op == "!=":
            return not any(_equal(v, wanted) for v in values)
        w = _number(wanted)
        nums = [n for n in (_number(v) for v in values) if n is not None]
        if w is None:
            return False
        return any({">": n > w, ">=": n >= w, "<": n < w, "<=": n <= w}[op] for n in nums)
    if kind == "in":
        return any(_equal(v, w) for v in _values(doc, node[1]) for w in node[2])
    if kind == "range":
        low, high = _number(node[2]), _number(node[3])
        return any(
            low is not None and high is not None and low <= n <= high
            for n in (_number(v) for v in _values(doc, node[1]))
            if n is not None
        )
    if kind == "exists":
        return node[1] in doc
    if kind == "null":
        return node[1] in doc and doc[node[1]] is None
    if kind == "empty":
        return doc.get(node[1]) in ("", [], {})
    if kind == "geo":
        lat, lng, dist = node[1]
        geo = doc.get("_geo")
        return bool(geo) and haversine_m(lat, lng, geo["lat"], geo["lng"]) <= dist
    raise AssertionError(kind)


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    )
    return 6_371_000 * 2 * math.asin(math.sqrt(a))


# --- the server state ---------------------------------------------------------------------
class Index:
    def __init__(self, uid: str, primary_key: str | None) -> None:
        self.uid, self.primary_key = uid, primary_key
        self.documents: dict[str, dict[str, Any]] = {}
        self.cache: dict[str, list[tuple[int, list[str]]]] = {}
        self.settings: dict[str, Any] = {
            "searchableAttributes": ["*"],
            "filterableAttributes": [],
            "sortableAttributes": [],
            "rankingRules": list(BUILTIN_RULES),
            "synonyms": {},
            "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9}},
            "pagination": {"maxTotalHits": 1000},
            "faceting": {"maxValuesPerFacet": 100},
        }
        self.created = self.updated = now()

    def fields(self, doc: dict[str, Any]) -> list[tuple[int, list[str]]]:
        """The document's searchable attributes as words, in attribute order (cached)."""
        key = str(doc.get(self.primary_key or "id"))
        if key not in self.cache:
            attrs = self.settings["searchableAttributes"]
            names = attrs if attrs != ["*"] else sorted(doc)
            self.cache[key] = [
                (pos, words(" ".join(map(str, _values(doc, a))))) for pos, a in enumerate(names)
            ]
        return self.cache[key]

    def describe(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "primaryKey": self.primary_key,
            "createdAt": self.created,
            "updatedAt": self.updated,
        }


def validate_settings(body: Any) -> None:
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "Invalid value type: expected an object")
    for key in body:
        if key not in SETTINGS_FIELDS:
            raise ApiError(
                400, "bad_request", f"Unknown field `{key}`: expected one of {sorted(SETTINGS_FIELDS)}"
            )
    for key in ("searchableAttributes", "filterableAttributes", "sortableAttributes", "displayedAttributes"):
        if key in body and not (isinstance(body[key], list) and all(isinstance(v, str) for v in body[key])):
            raise ApiError(
                400,
                f"invalid_settings_{_snake(key)}",
                f"Invalid value type at `.{key}`: expected an array of strings",
            )
    for rule in body.get("rankingRules", []):
        if not isinstance(rule, str) or not (
            rule in BUILTIN_RULES or re.fullmatch(r"[A-Za-z0-9_.]+:(asc|desc)", rule)
        ):
            raise ApiError(400, "invalid_settings_ranking_rules", f"`{rule}` ranking rule is invalid.")
    synonyms = body.get("synonyms", {})
    if not isinstance(synonyms, dict) or not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in synonyms.values()
    ):
        raise ApiError(
            400,
            "invalid_settings_synonyms",
            "Invalid value type at `.synonyms`: expected an object of arrays of strings",
        )
    typo = body.get("typoTolerance", {})
    if typo:
        unknown = set(typo) - {
            "enabled",
            "minWordSizeForTypos",
            "disableOnWords",
            "disableOnAttributes",
            "disableOnNumbers",
        }
        if unknown:
            raise ApiError(
                400,
                "invalid_settings_typo_tolerance",
                f"Unknown field `{sorted(unknown)[0]}` inside `.typoTolerance`",
            )
        sizes = typo.get("minWordSizeForTypos", {})
        if set(sizes) - {"oneTypo", "twoTypos"} or not all(
            isinstance(v, int) and v >= 0 for v in sizes.values()
        ):
            raise ApiError(
                400, "invalid_settings_typo_tolerance", "Invalid `.typoTolerance.minWordSizeForTypos`"
            )
        if sizes.get("oneTypo", 5) > sizes.get("twoTypos", 9):
            raise ApiError(
                400,
                "invalid_settings_typo_tolerance",
                "`minWordSizeForTypos` setting is invalid. `oneTypo` and `twoTypos` fields should be between `0` and `255`, and `twoTypos` should be greater or equals to `oneTypo`",
            )
    for key, inner in (("pagination", "maxTotalHits"), ("faceting", "maxValuesPerFacet")):
        if key in body and (
            set(body[key]) - {inner, "sortFacetValuesBy"} or not isinstance(body[key].get(inner, 1), int)
        ):
            raise ApiError(400, f"invalid_settings_{key}", f"Invalid value at `.{key}`")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class State:
    def __init__(self, master_key: str | None) -> None:
        self.master_key = master_key
        self.indexes: dict[str, Index] = {}
        self.tasks: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, body): what we were sent

    def task(self, index_uid: str | None, kind: str, work: Any) -> dict[str, Any]:
        uid = len(self.tasks)
        enqueued = now()
        record: dict[str, Any] = {
            "uid": uid,
            "indexUid": index_uid,
            "status": "succeeded",
            "type": kind,
            "details": {},
            "error": None,
            "duration": "PT0S",
            "enqueuedAt": enqueued,
            "startedAt": enqueued,
            "finishedAt": now(),
        }
        try:
            details = work()
            record["details"] = details or {}
        except ApiError as exc:
            record["status"], record["error"] = "failed", exc.body()
        self.tasks.append(record)
        return {
            "taskUid": uid,
            "indexUid": index_uid,
            "status": "enqueued",
            "type": kind,
            "enqueuedAt": enqueued,
        }

    def index(self, uid: str) -> Index:
        if uid not in self.indexes:
            raise ApiError(404, "index_not_found", f"Index `{uid}` not found.")
        return self.indexes[uid]

    def ensure(self, uid: str, primary_key: str | None = None) -> Index:
        if uid not in self.indexes:
            self.indexes[uid] = Index(uid, primary_key)
        return self.indexes[uid]

    # --- search -------------------------------------------------------------------------
    def search(self, uid: str, body: dict[str, Any]) -> dict[str, Any]:
        index = self.index(uid)
        unknown = set(body) - SEARCH_FIELDS
        if unknown:
            raise ApiError(
                400,
                "bad_request",
                f"Unknown field `{sorted(unknown)[0]}`: expected one of {sorted(SEARCH_FIELDS)}",
            )
        settings = index.settings
        filterable = settings["filterableAttributes"]
        tree = self._filter(body.get("filter"), filterable)
        sorts = self._sorts(body.get("sort") or [], settings["sortableAttributes"])
        facets = body.get("facets") or []
        for facet in facets:
            if facet not in filterable:
                raise ApiError(
                    400,
                    "invalid_search_facets",
                    f"Invalid facet distribution, attribute `{facet}` is not filterable. The available filterable attributes are `{', '.join(sorted(filterable))}`.",
                )
        strategy = body.get("matchingStrategy", "last")
        if strategy not in ("last", "all", "frequency"):
            raise ApiError(400, "invalid_search_matching_strategy", "Unknown value for `matchingStrategy`")
        for key in ("limit", "offset", "page", "hitsPerPage"):
            if key in body and (not isinstance(body[key], int) or body[key] < 0):
                raise ApiError(
                    400,
                    f"invalid_search_{_snake(key)}",
                    f"Invalid value type at `.{key}`: expected a positive integer",
                )
        candidates = [d for d in index.documents.values() if tree is None or evaluate(tree, d)]
        scored = self._match(index, candidates, body.get("q") or "", strategy)
        scored.sort(key=lambda pair: self._rank_key(index, pair[0], pair[1], sorts))
        max_total = settings["pagination"]["maxTotalHits"]
        hits_all = [doc for doc, _ in scored][:max_total]
        result: dict[str, Any] = {"query": body.get("q") or "", "processingTimeMs": 0}
        if "page" in body or "hitsPerPage" in body:
            per_page, page = body.get("hitsPerPage", 20), body.get("page", 1)
            chosen = hits_all[(page - 1) * per_page : page * per_page] if per_page else []
            result.update(
                hitsPerPage=per_page,
                page=page,
                totalHits=len(hits_all),
                totalPages=math.ceil(len(hits_all) / per_page) if per_page else 0,
            )
        else:
            offset, limit = body.get("offset", 0), body.get("limit", 20)
            chosen = hits_all[offset : offset + limit]
            result.update(offset=offset, limit=limit, estimatedTotalHits=len(hits_all))
        matched_words = {id(doc): m for doc, m in scored}
        pre, post = body.get("highlightPreTag", "<em>"), body.get("highlightPostTag", "</em>")
        out = []
        for doc in chosen:
            hit = copy.deepcopy(doc)
            highlight = body.get("attributesToHighlight") or []
            if highlight:
                formatted = copy.deepcopy(doc)
                for attr in highlight:
                    if isinstance(doc.get(attr), str):
                        formatted[attr] = self._highlight(
                            doc[attr], matched_words[id(doc)]["words"], pre, post
                        )
                hit["_formatted"] = formatted
            out.append(hit)
        result["hits"] = out
        if facets:
            distribution: dict[str, dict[str, int]] = {}
            for facet in facets:
                counts: dict[str, int] = {}
                for doc, _ in scored:
                    for value in _values(doc, facet):
                        key = str(value).lower() if isinstance(value, bool) else str(value)
                        counts[key] = counts.get(key, 0) + 1
                distribution[facet] = counts
            result["facetDistribution"] = distribution
        return result

    def _filter(self, value: Any, filterable: list[str]) -> Any:
        if value is None or value == [] or value == "":
            return None
        if isinstance(value, str):
            return FilterParser(value, filterable).parse()
        if isinstance(value, list):
            parts = []
            for item in value:
                if isinstance(item, list):
                    parts.append(("or", [FilterParser(s, filterable).parse() for s in item]))
                elif isinstance(item, str):
                    parts.append(FilterParser(item, filterable).parse())
                else:
                    raise ApiError(
                        400,
                        "invalid_search_filter",
                        "Invalid syntax for the filter parameter: expected a string or an array",
                    )
            return ("and", parts)
        raise ApiError(
            400,
            "invalid_search_filter",
            "Invalid syntax for the filter parameter: expected a string or an array",
        )

    def _sorts(self, sorts: Any, sortable: list[str]) -> list[tuple[str, Any, bool]]:
        parsed = []
        for item in sorts:
            geo = re.fullmatch(r"_geoPoint\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\):(asc|desc)", item)
            if geo:
                if "_geo" not in sortable:
                    raise ApiError(400, "invalid_search_sort", "Attribute `_geo` is not sortable.")
                parsed.append(("_geo", (float(geo.group(1)), float(geo.group(2))), geo.group(3) == "desc"))
                continue
            m = re.fullmatch(r"([A-Za-z0-9_.]+):(asc|desc)", item)
            if not m:
                raise ApiError(
                    400, "invalid_search_sort", f"Invalid syntax for the sort parameter: `{item}`."
                )
            if m.group(1) not in sortable:
                raise ApiError(
                    400,
                    "invalid_search_sort",
                    f"Attribute `{m.group(1)}` is not sortable. Available sortable attributes are: `{', '.join(sortable)}`.",
                )
            parsed.append((m.group(1), None, m.group(2) == "desc"))
        return parsed

    def _alternatives(self, index: Index, query_words: list[str]) -> list[list[list[str]]]:
        """Per query word: alternatives, each a phrase (list of words) — the word itself, a
        synonym, the word split in two where both halves are indexed words (the split whose
        rarer half is most frequent), and the concatenation of up to 3 consecutive query words
        it is part of (Meilisearch's "Concatenated and split queries": "su8010" finds SU-8010,
        "su 8010" finds SU8010)."""
        synonyms = {k.lower(): v for k, v in index.settings["synonyms"].items()}
        frequency: dict[str, int] = {}
        adjacent: set[tuple[str, str]] = set()  # split halves "must stay next to each other"
        for doc in index.documents.values():
            for _, tokens in index.fields(doc):
                adjacent.update(itertools.pairwise(tokens))
            for token in {t for _, tokens in index.fields(doc) for t in tokens}:
                frequency[token] = frequency.get(token, 0) + 1
        result = []
        for n, word in enumerate(query_words):
            alts = [[word]] + [words(s) for s in synonyms.get(word, []) if words(s)]
            splits = [
                (min(frequency.get(word[:i], 0), frequency.get(word[i:], 0)), [word[:i], word[i:]])
                for i in range(1, len(word))
                if (word[:i], word[i:]) in adjacent
            ]
            best = max(splits, default=(0, []))
            if best[0] > 0:
                alts.append([SPLIT, *best[1]])
            for size in (2, 3):
                for start in range(max(0, n - size + 1), min(n, len(query_words) - size) + 1):
                    alts.append(["".join(query_words[start : start + size])])
            result.append(alts)
        return result

    def _match(
        self, index: Index, docs: list[dict[str, Any]], q: str, strategy: str
    ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        query_words = words(q)
        if not query_words:
            return [(d, {"words": [], "typos": 0, "attribute": 0, "exact": 0, "count": 0}) for d in docs]
        typo = index.settings["typoTolerance"]
        sizes = typo.get("minWordSizeForTypos", {"oneTypo": 5, "twoTypos": 9})
        prefix_last = not q.rstrip() != q  # the last word is a prefix unless the query ends in a space
        alternatives = self._alternatives(index, query_words)
        results = []
        needed = len(query_words)
        while needed > 0:
            results = []
            for doc in docs:
                fields = index.fields(doc)
                info = {"words": [], "typos": 0, "attribute": 99, "exact": 0, "count": 0}
                ok = True
                for n, alts in enumerate(alternatives[:needed]):
                    best = None
                    for alt in alts:
                        found = self._phrase(
                            alt,
                            fields,
                            typo.get("enabled", True),
                            sizes,
                            prefix_last and n == len(query_words) - 1 and len(alt) == 1,
                        )
                        if found and (
                            best is None
                            or (found["typos"], found["attribute"]) < (best["typos"], best["attribute"])
                        ):
                            best = found
                    if best is None:
                        ok = False
                        break
                    info["words"] += best["words"]
                    info["typos"] += best["typos"]
                    info["attribute"] = min(info["attribute"], best["attribute"])
                    info["exact"] += best["exact"]
                    info["count"] += 1
                if ok:
                    results.append((doc, info))
            if results or strategy == "all":
                break
            needed -= 1
        return results

    def _phrase(
        self,
        phrase: list[str],
        fields: list[tuple[int, list[str]]],
        typos_on: bool,
        sizes: dict[str, int],
        prefix: bool,
    ) -> dict[str, Any] | None:
        if phrase[0] == SPLIT:  # the two halves of a split word, next to each other in one attribute
            for pos, tokens in fields:
                if any(pair == (phrase[1], phrase[2]) for pair in itertools.pairwise(tokens)):
                    return {"words": phrase[1:], "typos": 0, "attribute": pos, "exact": 0}
            return None
        total = {"words": [], "typos": 0, "attribute": 99, "exact": 0}
        for word in phrase:
            best = None
            allowed = (
                0
                if not typos_on
                else 2
                if len(word) >= sizes.get("twoTypos", 9)
                else 1
                if len(word) >= sizes.get("oneTypo", 5)
                else 0
            )
            for pos, tokens in fields:
                for token in tokens:
                    if token == word:
                        cand = (0, pos, 1, token)
                    elif prefix and token.startswith(word):
                        cand = (0, pos, 0, token)
                    else:
                        distance = damerau(word, token, allowed) if allowed else 1
                        if prefix and allowed and distance > allowed:
                            distance = damerau(word, token[: len(word)], allowed)
                        if distance > allowed:
                            continue
                        cand = (distance, pos, 0, token)
                    if best is None or cand[:2] < best[:2]:
                        best = cand
            if best is None:
                return None
            total["typos"] += best[0]
            total["attribute"] = min(total["attribute"], best[1])
            total["exact"] += best[2]
            total["words"].append(best[3])
        return total

    def _rank_key(
        self, index: Index, doc: dict[str, Any], info: dict[str, Any], sorts: list[tuple[str, Any, bool]]
    ) -> tuple[Any, ...]:
        key: list[Any] = []
        for rule in index.settings["rankingRules"]:
            if rule == "words":
                key.append(-info["count"])
            elif rule == "typo":
                key.append(info["typos"])
            elif rule == "attribute":
                key.append(info["attribute"])
            elif rule == "exactness":
                key.append(-info["exact"])
            elif rule == "sort":
                for attr, point, desc in sorts:
                    if attr == "_geo":
                        geo = doc.get("_geo")
                        value = haversine_m(point[0], point[1], geo["lat"], geo["lng"]) if geo else None
                    else:
                        value = doc.get(attr)
                    key.append(_order(value, desc))
            elif rule != "proximity":
                attr, _, direction = rule.partition(":")
                key.append(_order(doc.get(attr), direction == "desc"))
        return tuple(key)

    def _highlight(self, text: str, matched: list[str], pre: str, post: str) -> str:
        out = text
        for token in sorted(set(matched), key=len, reverse=True):
            out = (
                re.sub("(" + re.escape(token) + ")", pre + r"\1" + post, out, flags=re.IGNORECASE)
                if pre not in token
                else out
            )
        return out.replace(post + pre, "")


def _order(value: Any, desc: bool) -> tuple[int, Any]:
    if value is None or isinstance(value, (list, dict)):
        return (1, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, -value if desc else value)
    return (0, str(value))


# --- HTTP ---------------------------------------------------------------------------------
def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not raw:
                return None
            try:
                return json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ApiError(
                    400, "bad_request", f"The json payload provided is malformed. `{exc}`."
                ) from exc

        def _handle(self, method: str) -> None:
            try:
                body = self._body() if method in ("POST", "PUT", "PATCH") else None
                if state.master_key:
                    auth = self.headers.get("Authorization", "")
                    if not auth:
                        raise ApiError(
                            401,
                            "missing_authorization_header",
                            "The Authorization header is missing.",
                            "auth",
                        )
                    if auth != f"Bearer {state.master_key}":
                        raise ApiError(403, "invalid_api_key", "The provided API key is invalid.", "auth")
                url = urlsplit(self.path)
                parts = [p for p in url.path.split("/") if p]
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with state.lock:
                    state.requests.append((method, url.path, body))
                    status, answer = route(state, method, parts, query, body)
                self._send(status, answer)
            except ApiError as exc:
                self._send(exc.status, exc.body())

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

    return Handler


def route(state: State, method: str, parts: list[str], query: dict[str, str], body: Any) -> tuple[int, Any]:
    if parts == ["health"]:
        return 200, {"status": "available"}
    if parts == ["version"]:
        return 200, {"pkgVersion": "1.12.0-fake", "commitSha": "fake", "commitDate": now()}
    if parts[:1] == ["tasks"] and len(parts) == 2 and method == "GET":
        uid = int(parts[1])
        if uid >= len(state.tasks):
            raise ApiError(404, "task_not_found", f"Task `{uid}` not found.")
        return 200, state.tasks[uid]
    if parts == ["swap-indexes"] and method == "POST":
        if not isinstance(body, list):
            raise ApiError(400, "bad_request", "Invalid value type: expected an array")

        def swap() -> dict[str, Any]:
            for pair in body:
                a, b = pair["indexes"]
                first, second = state.index(a), state.index(b)
                state.indexes[a], state.indexes[b] = second, first
                first.uid, second.uid = b, a
            return {"swaps": body}

        return 202, state.task(None, "indexSwap", swap)
    if parts == ["indexes"] and method == "POST":
        uid, pk = body.get("uid"), body.get("primaryKey")
        if not isinstance(uid, str) or not DOC_ID.match(uid):
            raise ApiError(400, "invalid_index_uid", f"`{uid}` is not a valid index uid.")

        def create() -> dict[str, Any]:
            if uid in state.indexes:
                raise ApiError(409, "index_already_exists", f"Index `{uid}` already exists.")
            state.ensure(uid, pk)
            return {"primaryKey": pk}

        return 202, state.task(uid, "indexCreation", create)
    if parts[:1] != ["indexes"] or len(parts) < 2:
        raise ApiError(404, "not_found", "Not found.")
    uid, rest = parts[1], parts[2:]
    if not rest:
        if method == "GET":
            return 200, state.index(uid).describe()
        if method == "DELETE":
            return 202, state.task(
                uid,
                "indexDeletion",
                lambda: {
                    "deletedDocuments": len(state.indexes.pop(uid).documents)
                    if uid in state.indexes
                    else _missing(uid)
                },
            )
    if rest == ["settings"]:
        if method == "GET":
            return 200, state.index(uid).settings
        if method == "PATCH":
            validate_settings(body)

            def apply() -> dict[str, Any]:
                index = state.ensure(uid, None)
                for key, value in body.items():
                    index.settings[key] = value
                index.cache.clear()
                return dict(body)

            return 202, state.task(uid, "settingsUpdate", apply)
    if rest == ["search"] and method == "POST":
        return 200, state.search(uid, body or {})
    if rest == ["documents"] and method in ("POST", "PUT"):
        if not isinstance(body, list):
            raise ApiError(400, "malformed_payload", "The `json` payload must be an array of documents")
        pk = query.get("primaryKey")

        def add() -> dict[str, Any]:
            index = state.ensure(uid, pk)
            if index.primary_key is None:
                index.primary_key = pk or "id"
            key = index.primary_key
            for doc in body:
                doc_id = doc.get(key)
                if not isinstance(doc_id, (str, int)) or not DOC_ID.match(str(doc_id)):
                    raise ApiError(400, "invalid_document_id", f"Document identifier `{doc_id}` is invalid.")
                geo = doc.get("_geo")
                if geo is not None and not (
                    isinstance(geo, dict)
                    and isinstance(geo.get("lat"), (int, float))
                    and isinstance(geo.get("lng"), (int, float))
                ):
                    raise ApiError(
                        400,
                        "invalid_document_geo_field",
                        f"The `_geo` field in the document with the id: `{doc_id}` is invalid.",
                    )
            for doc in body:
                index.documents[str(doc[key])] = copy.deepcopy(doc)
                index.cache.pop(str(doc[key]), None)
            return {"receivedDocuments": len(body), "indexedDocuments": len(body)}

        return 202, state.task(uid, "documentAdditionOrUpdate", add)
    if rest == ["documents", "delete-batch"] and method == "POST":

        def remove() -> dict[str, Any]:
            index = state.index(uid)
            deleted = sum(1 for i in body if index.documents.pop(str(i), None) is not None)
            for i in body:
                index.cache.pop(str(i), None)
            return {"providedIds": len(body), "deletedDocuments": deleted}

        return 202, state.task(uid, "documentDeletion", remove)
    if rest == ["documents", "fetch"] and method == "POST":
        index = state.index(uid)
        offset, limit = (body or {}).get("offset", 0), (body or {}).get("limit", 20)
        ordered = [index.documents[k] for k in sorted(index.documents)]
        return 200, {
            "results": ordered[offset : offset + limit],
            "offset": offset,
            "limit": limit,
            "total": len(ordered),
        }
    raise ApiError(405 if rest else 404, "not_found", "Not found.")


def _missing(uid: str) -> Any:
    raise ApiError(404, "index_not_found", f"Index `{uid}` not found.")


class FakeMeilisearch:
    """``server.start()`` → listening on ``server.url``; ``server.stop()``."""

    def __init__(self, master_key: str | None = None) -> None:
        self.master_key = master_key or ""
        self.state = State(master_key)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.state))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
