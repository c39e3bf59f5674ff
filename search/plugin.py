"""The search domain as the shell sees it: routes, the index consumer, the backend service."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from catalogue.events import INSTRUMENT_CHANGED
from search.backend import SearchBackend
from search.controllers import SearchAdminController, SearchController
from search.dependencies import DEPENDENCIES, SEARCH_BACKEND
from search.phonetic import vocabulary
from search.settings import MeiliSettings, SearchSettings
from search.sync import index_changed_instruments
from yixiang.domains import Domain
from yixiang.settings import Settings

if TYPE_CHECKING:
    from yixiang.runtime import Runtime

log = logging.getLogger("search")


def make_backend(settings: Settings) -> SearchBackend:
    if SearchSettings.of(settings).backend == "meilisearch":
        from search.meili import MeiliSearch

        return MeiliSearch(MeiliSettings.of(settings).url, MeiliSettings.of(settings).key)
    from search.database import DatabaseSearch

    return DatabaseSearch(SearchSettings.of(settings).cache_entries)


async def start_search(runtime: Runtime) -> None:
    # The vocabulary, jieba's dictionary and pypinyin are loaded now rather than by the first
    # search: that request does not wait for them, and the memory start-up frees is given back
    # once, after all of it (yixiang.app's lifespan).
    vocabulary()
    backend = make_backend(runtime.settings)
    prepare = getattr(backend, "prepare", None)
    if prepare is not None:
        try:
            await prepare()
        except Exception as exc:  # the API still starts; searches answer 503 until it is back
            log.warning("search backend %s not ready: %s", backend.name, type(exc).__name__)
    runtime.services[SEARCH_BACKEND] = backend


DOMAIN = Domain(
    name="search",
    route_handlers=[SearchController, SearchAdminController],
    consumers={INSTRUMENT_CHANGED: [index_changed_instruments]},
    on_startup=[start_search],
    dependencies=DEPENDENCIES,
)
