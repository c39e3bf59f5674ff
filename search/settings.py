"""Search's settings: which index, its answer cache, and the Meilisearch server."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from yixiang.settings import Section, Settings, env_name

Backend = Literal["database", "meilisearch"]


class SearchSettings(Section):
    env_prefix = "SEARCH_"

    # Unset: the database-backed index in the embedded profile, Meilisearch in production.
    backend: Backend | None = None
    # Search answers remembered per API process until the next index write (0: none).
    cache_entries: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 500
    # With Redis: how long every API process finds an answer another computed (0: none shared).
    shared_cache_seconds: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = 300

    def resolve(self, settings: Settings) -> None:
        if self.backend is None:
            self.backend = "database" if settings.is_embedded else "meilisearch"

    def problems(self, settings: Settings) -> list[str]:
        meili = MeiliSettings.of(settings)
        if (
            settings.profile == "production"
            and self.backend == "meilisearch"
            and not (meili.url and meili.key)
        ):
            return [
                f"{env_name('meili_url')} and {env_name('meili_key')} are required in production "
                f"(or set {env_name('search_backend')}=database)"
            ]
        return []

    def describe(self) -> dict[str, str]:
        return {"search": str(self.backend)}


class MeiliSettings(Section):
    env_prefix = "MEILI_"

    url: str = ""
    key: str = ""


SECTIONS = (SearchSettings, MeiliSettings)
