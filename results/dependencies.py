"""What results registers for the rest of the app, and how its routes receive it."""

from __future__ import annotations

from typing import Annotated

from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import Dependency

from results.storage import ResultStorage
from yixiang.registry import ServiceKey, ServiceRegistry

# What a route names to receive it. The service is not a request value: Litestar need not
# validate it (nor could it check a Protocol).
ResultStorageDependency = Annotated[ResultStorage, Dependency(skip_validation=True)]

RESULT_STORAGE: ServiceKey[ResultStorage] = ServiceKey("result_storage")


def provide_result_storage(state: State) -> ResultStorage:
    services: ServiceRegistry = state.services
    return services[RESULT_STORAGE]


DEPENDENCIES = {"result_storage": Provide(provide_result_storage, sync_to_thread=False)}
