"""Remembered search answers, reused while the index has not changed since they were computed.

Researchers type the same few words all day ("核磁", "电镜", "质谱", each in a handful of cities);
on the database backend a broad word costs milliseconds of full-text matching, ranking and facet
counting, all of which depend only on the index and the query. An answer is stored under the
index *generation* it was computed at (``search_index_state``, incremented by every index write
in that write's transaction), and the search reads the generation before anything else, in its
own transaction's snapshot: an answer is only ever served to a reader that would have computed
the same one. Per process and bounded (least recently used first out), and, with Redis, shared
by every process for a few minutes (:class:`SharedAnswers`); nothing personal is in it (the
index holds none).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

from yixiang.store import Store

log = logging.getLogger("search")

V = TypeVar("V")


class AnswerCache(Generic[V]):
    """A bounded least-recently-used map; ``entries=0`` remembers nothing."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._answers: OrderedDict[Hashable, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        answer = self._answers.get(key)
        if answer is None:
            self.misses += 1
            return None
        self._answers.move_to_end(key)
        self.hits += 1
        return answer

    def put(self, key: Hashable, answer: V) -> None:
        if self.entries <= 0:
            return
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self.entries:
            self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)


class SharedAnswers:
    """Remembered answers every API process shares, in the shared store (Redis), for ``ttl``
    seconds: a process that has not computed an answer itself finds it there before computing it.

    The day's searches hold thousands of distinct requests; what one process keeps in memory
    (``AnswerCache``) finds a quarter of them, and every process computes the rest again. Here
    the keys are names of the same generation keys (an answer is only ever found by a reader of
    the generation it was computed at); the time to live bounds what the store holds, since
    answers of generations gone are never asked for again. The store down or slow: a miss (the
    answer is computed), never a failed search.
    """

    def __init__(self, store: Store, ttl: float) -> None:
        self.store, self.ttl = store, ttl
        self.hits = 0
        self.misses = 0

    async def get(self, name: str) -> bytes | None:
        try:
            answer = await self.store.get(name)
        except Exception as exc:  # the store down: compute, as with no memory
            log.warning("shared search answers unavailable (%s)", type(exc).__name__)
            answer = None
        if answer is None:
            self.misses += 1
        else:
            self.hits += 1
        return answer

    async def put(self, name: str, answer: bytes) -> None:
        try:
            await self.store.set(name, answer, self.ttl)
        except Exception as exc:
            log.warning("shared search answers unavailable (%s)", type(exc).__name__)
