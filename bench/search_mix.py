"""A day of researchers' searches, for the search benchmark's ``--mix zipf``.

We have no search logs yet, so the mix follows the shape search logs have everywhere: a few
words typed very often, a long tail typed rarely (popularity ~ 1/rank, Zipf with s = 1). The
words are the instrument vocabulary people use — every term of the synonym groups (核磁, NMR,
电镜, ICP-MS, ...), then every kind's Chinese and English name and aliases, then makers and
model numbers (``vocabulary``), with two letters swapped in some long Latin words. Each request
then draws its filters independently: a city (three in ten; Hangzhou and Ningbo most), voucher-
eligible only, a price ceiling, a service mode, a sort (price, rating, or distance from the
searcher's own position — never the same point twice), and a later page (one in seven). One in
twelve browses without text (a city and a category, or a city's voucher-eligible instruments).
Deterministic: the same ``seed`` gives the same requests.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from catalogue.demo.generate import CITY_CENTRES
from catalogue.demo.kinds import KINDS
from search.backend import Mode, Sort
from search.service import SearchRequest, encode_cursor

SYNONYMS = Path(__file__).resolve().parent.parent / "search" / "synonyms.txt"
CITY_WEIGHTS = {"330100": 8, "330200": 5, "330300": 3, "330400": 2, "330600": 2}  # the rest: 1
CATEGORIES = sorted({kind.category for kind in KINDS})
PAGE = 20


def vocabulary(rng: random.Random) -> list[str]:
    """Every word, most popular first: the synonym groups' terms (short words and abbreviations,
    "the common case" in DESIGN.md), then kind names and aliases, then makers and models; each
    tier in a shuffled order."""
    terms: list[str] = []
    for line in SYNONYMS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith(("#", "[")):
            terms += [t.strip() for t in line.split(",") if t.strip() and not t.strip().startswith("!")]
    names = [word for kind in KINDS for word in (kind.name, kind.name_en, *kind.aliases)]
    makers = [word for kind in KINDS for model in kind.models for word in (model.maker, model.model)]
    words: list[str] = []
    for tier in (terms, names, makers):
        tier = [word for word in dict.fromkeys(tier) if word not in words]
        rng.shuffle(tier)
        words += tier
    return words


def _typo(rng: random.Random, word: str) -> str:
    at = rng.randrange(1, len(word) - 1)
    return word[:at] + word[at + 1] + word[at] + word[at + 2 :]  # two letters swapped


def zipf_requests(count: int, seed: int = 2026) -> list[SearchRequest]:
    rng = random.Random(seed)
    words = vocabulary(rng)
    popularity = [1 / rank for rank in range(1, len(words) + 1)]
    cities = sorted(CITY_CENTRES)
    city_weights = [CITY_WEIGHTS.get(c, 1) for c in cities]
    requests: list[SearchRequest] = []
    for word in rng.choices(words, popularity, k=count):
        city = rng.choices(cities, city_weights)[0]
        if rng.random() < 1 / 12:
            category = rng.choice(CATEGORIES) if rng.random() < 0.6 else None
            request = SearchRequest(region=city, category=category, voucher=None if category else True)
        else:
            if word.isascii() and len(word) >= 6 and rng.random() < 0.05:
                word = _typo(rng, word)
            request = SearchRequest(
                q=word,
                region=city if rng.random() < 0.3 else None,
                voucher=True if rng.random() < 0.1 else None,
                price_max=rng.choice([20_000, 50_000, 100_000]) if rng.random() < 0.05 else None,
                mode=rng.choice([Mode.machine_time, Mode.sample_testing]) if rng.random() < 0.08 else None,
            )
            roll = rng.random()
            if roll < 0.05:
                lat, lng = CITY_CENTRES[city]
                request = replace(
                    request,
                    sort=Sort.distance,
                    lat=round(lat + rng.uniform(-0.2, 0.2), 6),
                    lng=round(lng + rng.uniform(-0.2, 0.2), 6),
                )
            elif roll < 0.13:
                request = replace(request, sort=Sort.price)
            elif roll < 0.18:
                request = replace(request, sort=Sort.rating)
        page = rng.choices([0, 1, 2], [85, 10, 5])[0]
        if page:
            request = replace(request, cursor=encode_cursor(request, page * PAGE))
        requests.append(request)
    return requests
