"""Segmentation: jieba with the search's vocabulary (instrument names, abbreviations, synonyms,
brands in Chinese and Latin), Latin words kept whole. Commands are matched on these words, so a
command word never takes a piece of an instrument name (「附近有没有液相」 keeps 液相)."""

from __future__ import annotations

from search.sentence import words

__all__ = ["boundaries", "words"]


def boundaries(text: str) -> frozenset[int]:
    """Positions where a word starts or ends (a one-character command must start at one)."""
    found = {0, len(text)}
    for _, start, end in words(text):
        found.add(start)
        found.add(end)
    return frozenset(found)
