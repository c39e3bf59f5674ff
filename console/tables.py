"""Tables that page, sort and filter on the server, and their downloads (CSV, XLSX).

A page names its columns (which ones sort) and reads the table's state from the query string; the
links it renders (a header to sort by, the next page) keep the filters. A download is the same
rows in the same order, all pages, as CSV (UTF-8 with BOM, which Excel opens in Chinese) or XLSX.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from yixiang.spreadsheet import download as download  # the pages' downloads

PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_EXPORT_ROWS = 10_000  # a download larger than this is narrowed by its filters first


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sortable: bool = False


@dataclass
class Table:
    columns: Sequence[Column]
    sort: str
    descending: bool
    page: int
    per_page: int
    filters: dict[str, str] = field(default_factory=dict)
    total: int = 0

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def link(self, **changes: Any) -> str:
        values: dict[str, Any] = {
            **self.filters,
            "sort": self.sort,
            "dir": "desc" if self.descending else "asc",
            "page": self.page,
        }
        values.update(changes)
        return "?" + urlencode({k: v for k, v in values.items() if v not in (None, "")})

    def sort_link(self, key: str) -> str:
        descending = not self.descending if key == self.sort else False
        return self.link(sort=key, dir="desc" if descending else "asc", page=1)

    def page_link(self, page: int) -> str:
        return self.link(page=page)

    def export_link(self, format: str) -> str:
        return self.link(format=format, page=None)


def read_table(
    query: Mapping[str, str],
    columns: Sequence[Column],
    *,
    default_sort: str,
    default_descending: bool,
    filters: Sequence[str] = (),
) -> Table:
    """The table's state from the query string; what does not parse falls back to the default."""
    sortable = {c.key for c in columns if c.sortable}
    sort = query.get("sort", default_sort)
    if sort not in sortable:
        sort = default_sort
    direction = query.get("dir")
    descending = default_descending if direction not in ("asc", "desc") else direction == "desc"
    page = _bounded(query.get("page"), 1, 1, 1_000_000)
    per_page = _bounded(query.get("per_page"), PER_PAGE, 1, MAX_PER_PAGE)
    kept = {name: query[name].strip()[:100] for name in filters if query.get(name, "").strip()}
    return Table(columns, sort, descending, page, per_page, kept)


def _bounded(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return min(max(value, low), high)
