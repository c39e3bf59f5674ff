"""Text handling shared by both backends: normalisation, segmentation, synonyms, query parsing.

- ``normalize``: full-width → half-width (NFKC), Traditional → Simplified Chinese (zhconv), lower
  case. A query typed in the "wrong script" (電鏡, ＮＭＲ) becomes the indexed form.
- Chinese is segmented with jieba (search mode: long words and the dictionary words inside them);
  every synonym term is added to jieba's dictionary so 核磁共振 stays one word.
- Character bigrams of names are indexed too: FTS5/tsvector match whole tokens, and a two-
  character query such as 核磁 must find 核磁共振波谱仪 even where jieba segments differently.
- Synonym groups (``synonyms.txt``) are symmetric: a document containing any term of a group is
  tagged with the group's token; a query term belonging to a group matches the tag.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jieba
import zhconv

from search.dictionary import install as install_dictionary

jieba.setLogLevel(logging.WARNING)

LATIN_WORD = re.compile(r"[a-z0-9]+(?:[-./+][a-z0-9]+)*")
CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
TOKEN_OK = re.compile(r"^[a-z0-9\u3400-\u9fff]+$")
ALNUM_RUNS = re.compile(r"[a-z]+|[0-9]+")
CJK_STOPWORDS = frozenset("的 和 与 及 或 在 有 用 做 测 个 台".split())


@functools.lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """Remembered: names, models and query strings come again and again (zhconv is slow)."""
    text = unicodedata.normalize("NFKC", text)
    text = zhconv.convert(text, "zh-cn")
    return " ".join(text.lower().split())


def latin_parts(word: str) -> list[str]:
    """``icp-ms`` → icp, ms, icpms; ``jnm-ecz600r`` → jnm, ecz600r, ecz, 600, r..., jnmecz600r."""
    parts = [p for p in re.split(r"[-./+]", word) if p]
    tokens = list(parts)
    if len(parts) > 1:
        tokens.append("".join(parts))
    for part in parts:
        runs = ALNUM_RUNS.findall(part)
        if len(runs) > 1:
            tokens.extend(r for r in runs if len(r) >= 2 or r.isdigit())
    return tokens


def bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)] if len(run) > 1 else [run]


def _ensure_dictionary() -> None:
    _load_synonyms()  # adds the vocabulary to jieba


def index_tokens(text: str) -> list[str]:
    """Tokens of a text for the index (normalised, jieba search mode for Chinese)."""
    _ensure_dictionary()
    norm = normalize(text)
    tokens: list[str] = []
    for word in LATIN_WORD.findall(norm):
        tokens.extend(latin_parts(word))
    for run in CJK_RUN.findall(norm):
        tokens.extend(_search_words(run))
    return [t for t in tokens if TOKEN_OK.match(t)]


@functools.lru_cache(maxsize=65536)
def _search_words(run: str) -> tuple[str, ...]:
    """jieba's search-mode words of a Chinese run: unit, lab, category and kind names recur
    across thousands of instruments, and a document is segmented when built and when indexed."""
    return tuple(w for w in jieba.cut_for_search(run) if w.strip())


def gram_tokens(text: str) -> list[str]:
    norm = normalize(text)
    return [g for run in CJK_RUN.findall(norm) for g in bigrams(run)]


def compact_model(model: str) -> str:
    """A model number as typed without its separators ("MCR 302e" → mcr302e, "AVANCE NEO 600" →
    avanceneo600): one more token of the name, so a glued query matches a spaced model (a hyphen
    already gives its joined form, see ``latin_parts``)."""
    compact = "".join(LATIN_WORD.findall(re.sub(r"[-./+]", "", normalize(model))))
    return compact if 3 <= len(compact) <= 64 else ""


def latin_vocabulary(text: str) -> set[str]:
    return {t for t in index_tokens(text) if t.isascii() and 3 <= len(t) <= 64}


# --- synonyms -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Group:
    number: int
    terms: tuple[str, ...]  # as written (for Meilisearch and display)
    normalized: tuple[str, ...]
    exclusions: tuple[str, ...]
    kind: str = "instrument"  # or "brand" (the lines after [brands])

    @property
    def token(self) -> str:
        return f"syn{self.number:03d}"


def _term_pattern(term: str) -> re.Pattern[str]:
    escaped = re.escape(term)
    if term[:1].isascii() and term[:1].isalnum():
        escaped = r"(?<![a-z0-9])" + escaped
    if term[-1:].isascii() and term[-1:].isalnum():
        escaped = escaped + r"(?![a-z0-9])"
    return re.compile(escaped)


@dataclass(frozen=True, eq=False)
class Synonyms:
    groups: tuple[Group, ...]
    patterns: dict[str, re.Pattern[str]]
    by_term: dict[str, tuple[int, ...]]  # normalised term -> group numbers

    def tag(self, texts: Iterable[str]) -> list[Group]:
        """The groups a document belongs to (any term occurs, ignoring excluded phrases)."""
        return list(self._tag(normalize(" | ".join(texts))))

    @functools.lru_cache(maxsize=16384)  # noqa: B019 (one Synonyms per process, never freed)
    def _tag(self, text: str) -> tuple[Group, ...]:
        # Documents are tagged when built and again when indexed; many share their names.
        found = []
        for group in self.groups:
            scoped = text
            for excluded in group.exclusions:
                scoped = scoped.replace(excluded, " ")
            # The substring test is a cheap necessary condition for the pattern.
            if any(t in scoped and self.patterns[t].search(scoped) for t in group.normalized):
                found.append(group)
        return tuple(found)

    def find_terms(self, norm_query: str) -> list[tuple[int, int, str]]:
        """Synonym terms in a normalised query, longest first, not overlapping: (start, end, term)."""
        spans: list[tuple[int, int, str]] = []
        taken = [False] * len(norm_query)
        for term in sorted(self.by_term, key=len, reverse=True):
            for match in self.patterns[term].finditer(norm_query):
                if not any(taken[match.start() : match.end()]):
                    spans.append((match.start(), match.end(), term))
                    for i in range(match.start(), match.end()):
                        taken[i] = True
        return sorted(spans)


SYNONYMS_FILE = Path(__file__).parent / "synonyms.txt"


@functools.cache
def _load_synonyms() -> Synonyms:
    install_dictionary()  # before jieba's first cut would load its full one
    groups: list[Group] = []
    kind = "instrument"
    for line in SYNONYMS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line == "[brands]":
            kind = "brand"
            continue
        raw = [t.strip() for t in line.split(",") if t.strip()]
        terms = tuple(t for t in raw if not t.startswith("!"))
        exclusions = tuple(normalize(t[1:]) for t in raw if t.startswith("!"))
        normalized = tuple(dict.fromkeys(normalize(t) for t in terms))
        groups.append(Group(len(groups) + 1, terms, normalized, exclusions, kind))
    patterns: dict[str, re.Pattern[str]] = {}
    by_term: dict[str, list[int]] = {}
    for group in groups:
        for term in group.normalized:
            patterns.setdefault(term, _term_pattern(term))
            by_term.setdefault(term, []).append(group.number)
            if CJK_RUN.fullmatch(term):
                jieba.add_word(term, freq=2000)
    return Synonyms(tuple(groups), patterns, {t: tuple(g) for t, g in by_term.items()})


def synonyms() -> Synonyms:
    return _load_synonyms()


# --- queries ------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueryTerm:
    text: str  # normalised surface form
    kind: str  # "latin" | "cjk"
    groups: tuple[int, ...] = ()  # synonym groups the term names
    prefix: bool = False  # the last word typed may be incomplete


def parse_query(q: str) -> list[QueryTerm]:
    """Split a query into terms (all must match): synonym terms first, then words."""
    norm = normalize(q)
    syn = synonyms()
    terms: list[tuple[int, QueryTerm]] = []
    rest = list(norm)
    for start, end, term in syn.find_terms(norm):
        kind = "cjk" if CJK_RUN.search(term) else "latin"
        terms.append((start, QueryTerm(term, kind, syn.by_term[term])))
        for i in range(start, end):
            rest[i] = " "
    remainder = "".join(rest)
    for match in LATIN_WORD.finditer(remainder):
        for part in [p for p in re.split(r"[-./+]", match.group()) if p]:
            terms.append((match.start(), QueryTerm(part, "latin")))
    for match in CJK_RUN.finditer(remainder):
        offset = match.start()
        for word in jieba.cut(match.group()):
            if word.strip() and word not in CJK_STOPWORDS:
                terms.append((offset, QueryTerm(word, "cjk")))
            offset += len(word)
    terms.sort(key=lambda t: t[0])
    result = [t for _, t in terms]
    if result and not result[-1].groups and norm and not norm[-1].isspace():
        last = result[-1]
        result[-1] = QueryTerm(last.text, last.kind, last.groups, prefix=True)
    return result


def typo_variants(term: str) -> frozenset[str]:
    """Every string one edit (delete, transpose, replace, insert over [a-z0-9]) away."""
    return frozenset(_typo_variants(term).split("\n"))


@functools.lru_cache(maxsize=4096)
def _typo_variants(term: str) -> str:
    """Remembered (several hundred strings a word, for the same few misspelt model names) as one
    string: ~8 kB a word instead of ~90 kB as a set of str objects."""
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    splits = [(term[:i], term[i:]) for i in range(len(term) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    transposes = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return "\n".join((deletes | transposes | replaces | inserts) - {term})


def highlight(text: str, needles: Iterable[str], pre: str = "<em>", post: str = "</em>") -> str:
    """Wrap every occurrence of ``needles`` (normalised forms) in ``text``, case-insensitively."""
    if not text:
        return text
    folded = normalize(text)
    source = folded if len(folded) == len(text) else text.lower()
    marks = [False] * len(text)
    for needle in sorted({n for n in needles if n}, key=len, reverse=True):
        start = source.find(needle)
        while start != -1:
            for i in range(start, min(start + len(needle), len(text))):
                marks[i] = True
            start = source.find(needle, start + len(needle))
    out, inside = [], False
    for char, marked in zip(text, marks, strict=True):
        if marked and not inside:
            out.append(pre)
            inside = True
        elif not marked and inside:
            out.append(post)
            inside = False
        out.append(char)
    if inside:
        out.append(post)
    return "".join(out)
