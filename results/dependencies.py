"""What results registers for the rest of the app, and how its routes receive it."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Dependency

from results.storage import ResultStorage
from yixiang.registry import ServiceKey, provide

# What a route names to receive it. The service is not a request value: Litestar need not
# validate it (nor could it check a Protocol).
ResultStorageDependency = Annotated[ResultStorage, Dependency(skip_validation=True)]

RESULT_STORAGE: ServiceKey[ResultStorage] = ServiceKey("result_storage")


DEPENDENCIES = {"result_storage": provide(RESULT_STORAGE)}
