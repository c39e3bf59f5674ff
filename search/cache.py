"""Remembered search answers, reused while the index has not changed since they were computed.

Researchers type the same few words all day ("核磁", "电镜", "质谱", each in a handful of cities);
on the database backend a broad word costs milliseconds of full-text matching, ranking and facet
counting, all of which depend only on the index and the query. An answer is stored under the
index *generation* it was computed at (``search_index_state``, incremented by every index write
in that write's transaction), and the search reads the generation before anything else, in its
own transaction's snapshot: an answer is only ever served to a reader that would have computed
the same one. Per process and bounded (least recently used first out); nothing personal is in
it (the index holds none).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

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
