"""What search registers for the rest of the app, and how its routes receive it."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Dependency

from search.backend import SearchBackend
from yixiang.registry import ServiceKey, provide

# What a route names to receive it. The service is not a request value: Litestar need not
# validate it (nor could it check a Protocol).
SearchBackendDependency = Annotated[SearchBackend, Dependency(skip_validation=True)]

SEARCH_BACKEND: ServiceKey[SearchBackend] = ServiceKey("search")


DEPENDENCIES = {"search_backend": provide(SEARCH_BACKEND)}
