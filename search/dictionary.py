"""jieba's dictionary held compactly: the same words and frequencies, ~5 MB instead of ~67 MB.

jieba keeps its 349,046 words and their 149,067 prefixes as one Python dict (``FREQ``): half a
million str and int objects, about a fifth of an API process. ``CompactFrequencies`` answers the
four questions jieba asks of ``FREQ`` (``frag in FREQ``, ``FREQ[frag]``, ``FREQ.get(frag)``,
``FREQ[word] = freq`` from ``add_word``) from one string per first character, so segmentation is
exactly jieba's (tests/search/test_dictionary.py compares both) at ~1.5× its lookup time, which
the query memos hide.

Each bucket is ``"\\nrest\\tfreq\\nrest\\tfreq…\\n"`` of the words starting with that character, ``rest``
the word without it. A word is ``"\\n" + rest + "\\t"`` in its bucket; a prefix (which jieba's
dict holds with frequency 0) is ``"\\n" + rest``. The buckets are built from jieba's dict.txt once
per machine and cached beside jieba's own cache (marshal, as jieba does); a process that cannot
write there builds them again next time.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import marshal
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import jieba

log = logging.getLogger("search")
T = TypeVar("T")


class CompactFrequencies:
    __slots__ = ("_added", "_buckets")

    def __init__(self, buckets: dict[str, str]) -> None:
        self._buckets = buckets
        self._added: dict[str, int] = {}  # add_word's words and prefixes (the search vocabulary)

    def _lookup(self, frag: str) -> int | None:
        """The word's frequency, 0 for a prefix of a word only, None for neither."""
        bucket = self._buckets.get(frag[:1])
        if bucket is None:
            return None
        key = "\n" + frag[1:] + "\t"
        at = bucket.find(key)
        if at < 0:
            return 0 if key[:-1] in bucket else None
        start = at + len(key)
        return int(bucket[start : bucket.index("\n", start)])

    def get(self, frag: str, default: int | None = None) -> int | None:
        added = self._added.get(frag)
        if added is not None:
            return added
        found = self._lookup(frag)
        return default if found is None else found

    def __contains__(self, frag: object) -> bool:
        return isinstance(frag, str) and (frag in self._added or self._lookup(frag) is not None)

    def __getitem__(self, frag: str) -> int:
        found = self.get(frag)
        if found is None:
            raise KeyError(frag)
        return found

    def __setitem__(self, frag: str, freq: int) -> None:
        self._added[frag] = freq

    def __len__(self) -> int:  # jieba never asks; words + prefixes would need a full pass
        raise TypeError("CompactFrequencies has no cheap length")


def build(dict_file: Path) -> tuple[dict[str, str], int]:
    """Buckets and jieba's total from dict.txt (a later line for the same word wins, as in jieba)."""
    by_first: dict[str, dict[str, int]] = {}
    total = 0
    with dict_file.open(encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if not line:
                continue
            word, freq = line.split(" ")[:2]
            total += int(freq)
            by_first.setdefault(word[0], {})[word[1:]] = int(freq)
    buckets = {
        first: "\n" + "\n".join(f"{rest}\t{freq}" for rest, freq in words.items()) + "\n"
        for first, words in by_first.items()
    }
    return buckets, total


def built_once(name: str, source: Path, build: Callable[[], T]) -> T:
    """``build()``, remembered in a marshal file beside jieba's cache while ``source`` (the file
    it is built from) is unchanged; built again when that file cannot be read or written. The
    name carries the layout's version: a new layout, a new name."""
    stat = source.stat()
    key = f"{name}:{source.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()
    cache = Path(tempfile.gettempdir()) / f"yixiang-{name}-{hashlib.sha256(key).hexdigest()[:16]}.marshal"
    try:
        with cache.open("rb") as f:
            return marshal.load(f)  # type: ignore[no-any-return]
    except (OSError, EOFError, ValueError, TypeError):
        pass
    built = build()
    try:
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("wb") as f:
            marshal.dump(built, f)  # type: ignore[arg-type]  # T: the marshallable tables built here
        os.replace(partial, cache)
    except OSError as exc:
        log.info("%s not cached (%s)", name, type(exc).__name__)
    return built


@functools.cache
def install() -> CompactFrequencies:
    """Give jieba's default tokenizer the compact dictionary (before its first cut, which would
    otherwise load the full one). Idempotent."""
    tokenizer = jieba.dt
    with tokenizer.lock:
        if tokenizer.initialized and not isinstance(tokenizer.FREQ, CompactFrequencies):
            log.info("jieba already holds its full dictionary; the compact one replaces it")
        default = Path(jieba.__file__).parent / "dict.txt"
        source = Path(tokenizer.dictionary) if tokenizer.dictionary else default
        buckets, total = built_once("jieba-1", source, lambda: build(source))
        frequencies = CompactFrequencies(buckets)
        tokenizer.FREQ = frequencies  # type: ignore[assignment]
        tokenizer.total = total
        tokenizer.initialized = True
    return frequencies
