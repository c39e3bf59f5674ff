"""Search failures, one class each (the shell renders them)."""

from __future__ import annotations

from yixiang.errors import InvalidInput, ServiceUnavailable


class BadSearchFilter(InvalidInput):
    code = "bad_search_filter"
    message = "搜索条件有误"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"搜索条件有误：{field}（{message}）", field=field, reason=message)


class SearchUnavailable(ServiceUnavailable):
    code = "search_unavailable"
    message = "搜索服务暂时不可用，请稍后再试"
