"""Slots: what a message says, found anywhere in the sentence.

Each finder takes the normalised text with what earlier finders used blanked out (same length,
spaces), so 「评分高的XRD」 is a rating preference and an instrument, never the command 评分;
and instrument words are taken before any command, so no command swallows them.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime

from accounts.regions import regions
from search.text import synonyms
from yixiang.dates import NUM, When, cn_number, parse_when


@dataclass(frozen=True)
class Slots:
    instrument: str = ""  # the instrument group's first term ("NMR", "SEM", "HPLC")
    instrument_said: str = ""  # the term as written in the vocabulary ("核磁", "扫瞄电镜")
    brand: str = ""  # the brand group's first term ("Zeiss")
    brand_said: str = ""
    when: When | None = None
    duration_minutes: int | None = None
    samples: int | None = None
    sort: str = ""  # "price" | "rating" | "distance"
    place: str = ""  # a region code, or "nearby"
    place_name: str = ""  # "杭州"

    @property
    def any(self) -> bool:
        return bool(
            self.instrument
            or self.brand
            or self.when
            or self.duration_minutes
            or self.samples
            or self.sort
            or self.place
        )


@dataclass
class Text:
    """The normalised text and what of it the finders have used."""

    text: str
    blanked: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.blanked = list(self.text)

    @property
    def rest(self) -> str:
        return "".join(self.blanked)

    def use(self, start: int, end: int) -> None:
        for i in range(start, end):
            self.blanked[i] = " "


# --- durations and samples -------------------------------------------------------------------
_AMOUNT = rf"(?:\d+(?:\.\d+)?|{NUM})"
DURATION = re.compile(
    rf"(?P<h>{_AMOUNT})\s*个?\s*(?P<half>半)?\s*(?:小时|钟头|hours?|hrs?|h)(?![a-z])"
    rf"|(?P<m>\d+|{NUM})\s*(?:分钟|mins?|minutes?)(?![a-z])"
    r"|(?P<halfhour>半个?小时)"
)
SAMPLES = re.compile(
    rf"(?P<n>\d+|{NUM})\s*(?:个|份|支|管|瓶|袋|块|片)?\s*(?:样品|样本|样|samples?)(?![a-z])"
    rf"|(?:样品|样本)\s*(?P<n2>\d+|{NUM})\s*(?:个|份)?"
)


def _amount(text: str) -> float | None:
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    number = cn_number(text)
    return float(number) if number is not None else None


def find_duration(t: Text) -> int | None:
    match = DURATION.search(t.rest)
    if match is None:
        return None
    if match.group("halfhour"):
        minutes = 30.0
    elif match.group("h"):
        hours = _amount(match.group("h"))
        if hours is None:
            return None
        minutes = hours * 60 + (30 if match.group("half") else 0)
    else:
        amount = _amount(match.group("m"))
        if amount is None:
            return None
        minutes = amount
    if not 0 < minutes <= 24 * 60:
        return None
    t.use(*match.span())
    return int(minutes)


def find_samples(t: Text) -> int | None:
    match = SAMPLES.search(t.rest)
    if match is None:
        return None
    number = cn_number(match.group("n") or match.group("n2") or "")
    if number is None or number <= 0:
        return None
    t.use(*match.span())
    return number


# --- preferences: price, rating, distance ----------------------------------------------------
SORT_WORDS: dict[str, tuple[str, ...]] = {
    "price": (
        "最便宜",
        "便宜点",
        "便宜些",
        "便宜",
        "价格最低",
        "价格低",
        "价格便宜",
        "低价",
        "实惠",
        "cheapest",
        "cheaper",
        "cheap",
        "lowest price",
    ),
    "rating": (
        "评分最高",
        "评分高",
        "评价最好",
        "评价好",
        "好评",
        "口碑最好",
        "口碑好",
        "最好的",
        "best rated",
        "top rated",
        "highest rated",
        "best",
    ),
    "distance": ("离我最近", "离我近", "距离最近", "最近的", "nearest", "closest"),
}
NEARBY_WORDS = ("附近", "周边", "周围", "就近", "离我近", "nearby", "near me", "close by")


def _latin_bounded(word: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])")


@functools.cache
def _sort_patterns() -> list[tuple[str, re.Pattern[str]]]:
    found = [(kind, _latin_bounded(w)) for kind, ws in SORT_WORDS.items() for w in ws]
    return sorted(found, key=lambda kw: len(kw[1].pattern), reverse=True)


def find_sort(t: Text) -> str:
    for kind, pattern in _sort_patterns():
        match = pattern.search(t.rest)
        if match:
            t.use(*match.span())
            return kind
    return ""


# --- places ----------------------------------------------------------------------------------
SUFFIXES = ("特别行政区", "自治区", "省", "市", "区", "县", "盟")
ENGLISH_PLACES = {
    "hangzhou": "330100",
    "ningbo": "330200",
    "wenzhou": "330300",
    "shaoxing": "330600",
    "nanjing": "320100",
    "suzhou": "320500",
    "hefei": "340100",
    "binjiang": "330108",
}


@functools.cache
def place_names() -> list[tuple[str, str, str]]:
    """(name as typed, region code, name to show), longest first: 杭州市 and 杭州, 滨江区 and 滨江."""
    names: list[tuple[str, str, str]] = []
    for row in regions():
        full, code = str(row["name"]), str(row["code"])
        short = full
        for suffix in SUFFIXES:
            if full.endswith(suffix) and len(full) - len(suffix) >= 2:
                short = full[: -len(suffix)]
                break
        names.append((full, code, short))
        if short != full:
            names.append((short, code, short))
    by_code = {code: show for _, code, show in names}
    names.extend((word, code, by_code[code]) for word, code in ENGLISH_PLACES.items())
    return sorted(names, key=lambda n: len(n[0]), reverse=True)


def find_place(t: Text) -> tuple[str, str]:
    """A named region wins over 附近 (「滨江附近」 is 滨江); both words are used."""
    place = ("", "")
    rest = t.rest
    for word, code, show in place_names():
        at = rest.find(word)
        if at >= 0 and (not word.isascii() or _latin_bounded(word).search(rest)):
            t.use(at, at + len(word))
            place = (code, show)
            break
    for word in NEARBY_WORDS:
        at = t.rest.find(word)
        if at >= 0:
            t.use(at, at + len(word))
            return place if place[0] else ("nearby", "附近")
    return place


# --- instruments and brands ------------------------------------------------------------------
@functools.cache
def _written() -> dict[str, str]:
    """Normalised term → the term as the vocabulary writes it ("nmr" → "NMR")."""
    from search.text import normalize

    return {normalize(term): term for group in synonyms().groups for term in group.terms}


def find_instrument_and_brand(t: Text) -> tuple[str, str, str, str]:
    """The first instrument term and the first brand term, as (first term of the group, as said)."""
    vocabulary = synonyms()
    instrument = said = brand = brand_said = ""
    for start, end, term in vocabulary.find_terms(t.rest):
        group = vocabulary.groups[vocabulary.by_term[term][0] - 1]
        if group.kind == "brand" and not brand:
            brand, brand_said = group.terms[0], _written().get(term, term)
        elif group.kind == "instrument" and not instrument:
            instrument, said = group.terms[0], _written().get(term, term)
        else:
            continue
        t.use(start, end)
    return instrument, said, brand, brand_said


def find_when(t: Text, now: datetime) -> When | None:
    when = parse_when(t.rest, now)
    if when is not None:
        for start, end in when.used:
            t.use(start, end)
    return when


def find_slots(t: Text, now: datetime) -> Slots:
    """Every slot of the text, in the order that keeps each finder off the others' words."""
    when = find_when(t, now)
    duration = find_duration(t)
    samples = find_samples(t)
    sort = find_sort(t)
    place, place_name = find_place(t)
    instrument, said, brand, brand_said = find_instrument_and_brand(t)
    return Slots(
        instrument=instrument,
        instrument_said=said,
        brand=brand,
        brand_said=brand_said,
        when=when,
        duration_minutes=duration,
        samples=samples,
        sort=sort,
        place=place,
        place_name=place_name,
    )
