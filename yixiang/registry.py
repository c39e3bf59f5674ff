"""The registry of the process's long-lived services (the search backend, result storage, the
WeChat gateways ...), registered by the domains at start-up and found again by a typed key.

A domain declares each key once, beside what it registers (``SEARCH_BACKEND =
ServiceKey[SearchBackend]("search")``); every reader names the key, and the type checker knows
what comes back. Controllers get them through Litestar's dependency injection (the domain's
``dependencies``), outbox consumers from their :class:`~yixiang.domains.JobContext`.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

from litestar.datastructures import State
from litestar.di import Provide

T = TypeVar("T")


class ServiceKey(Generic[T]):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"ServiceKey({self.name!r})"


class ServiceMissing(LookupError):
    """No domain registered the service: its domain is not loaded, or not started yet."""


class ServiceRegistry:
    def __init__(self) -> None:
        self._by_name: dict[str, Any] = {}

    def __setitem__(self, key: ServiceKey[T], value: T) -> None:
        self._by_name[key.name] = value

    def __getitem__(self, key: ServiceKey[T]) -> T:
        try:
            return cast(T, self._by_name[key.name])
        except KeyError:
            raise ServiceMissing(key.name) from None

    def get(self, key: ServiceKey[T], default: T | None = None) -> T | None:
        return cast(T | None, self._by_name.get(key.name, default))

    def setdefault(self, key: ServiceKey[T], value: T) -> T:
        return cast(T, self._by_name.setdefault(key.name, value))

    def pop(self, key: ServiceKey[T], default: T | None = None) -> T | None:
        return cast(T | None, self._by_name.pop(key.name, default))

    def __contains__(self, key: ServiceKey[Any]) -> bool:
        return key.name in self._by_name


def provide(key: ServiceKey[T]) -> Provide:
    """The Litestar dependency that hands a route the service registered under ``key``."""

    def registered(state: State) -> Any:
        services: ServiceRegistry = state.services
        return services[key]

    registered.__name__ = f"provide_{key.name.replace('.', '_')}"
    return Provide(registered, sync_to_thread=False)
