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
from yixiang.store import Store

if TYPE_CHECKING:
    from yixiang.runtime import Runtime

log = logging.getLogger("search")


def make_backend(settings: Settings, store: Store | None = None) -> SearchBackend:
    search = SearchSettings.of(settings)
    if search.backend == "meilisearch":
        from search.meili import MeiliSearch

        return MeiliSearch(MeiliSettings.of(settings).url, MeiliSettings.of(settings).key)
    from search.cache import SharedAnswers
    from search.database import DatabaseSearch

    # Only a store other processes see is worth asking (the embedded default's is this process's).
    shared = None
    if settings.redis_url and store is not None and search.shared_cache_seconds > 0:
        shared = SharedAnswers(store, search.shared_cache_seconds)
    return DatabaseSearch(search.cache_entries, shared)


async def start_search(runtime: Runtime) -> None:
    # The vocabulary, jieba's dictionary and pypinyin are loaded now rather than by the first
    # search: that request does not wait for them, and the memory start-up frees is given back
    # once, after all of it (yixiang.app's lifespan).
    vocabulary()
    backend = make_backend(runtime.settings, runtime.store)
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
