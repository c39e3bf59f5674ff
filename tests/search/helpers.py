"""Asking the search API as a researcher's phone does."""

from __future__ import annotations

from typing import Any

SEARCH = "/api/v1/instruments/search"


async def search(client: Any, **params: Any) -> dict[str, Any]:
    response = await client.get(SEARCH, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def everything(client: Any, **params: Any) -> list[dict[str, Any]]:
    """Every page, following the cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await search(client, **params, limit=50, **({"cursor": cursor} if cursor else {}))
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items
