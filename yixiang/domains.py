"""How domain packages plug into the shell without the shell importing them by name in code.

Each domain package exposes ``<package>.plugin.DOMAIN``, a :class:`Domain` listing its routes,
outbox consumers, periodic jobs and demo-data loaders. The shell loads them by module path, so
dependencies still point one way (domains import ``yixiang``, never the reverse). A domain's
command-line commands are apart, in ``<package>.cli.COMMANDS``: the ``yixiang`` command lists them
without loading any plugin (which imports the whole domain, and the web framework with it).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yixiang.outbox import Event
from yixiang.packages import DOMAIN_PACKAGES
from yixiang.registry import ServiceRegistry
from yixiang.settings import Settings
from yixiang.store import Store

if TYPE_CHECKING:  # the runtime loads the domains: a run-time import would be circular
    from yixiang.runtime import Runtime

DOMAIN_MODULES = tuple(f"{package}.plugin" for package in DOMAIN_PACKAGES)


@dataclass
class JobContext:
    """What an outbox consumer gets: its own transaction's session and the app's services."""

    session: AsyncSession
    settings: Settings
    store: Store
    services: ServiceRegistry


Consumer = Callable[[JobContext, Event], Awaitable[None]]
# Given a batch of a consumer's events, the ids of those it has nothing to do for.
IdleSelector = Callable[[JobContext, Sequence[Event]], Awaitable[set[int]]]
DemoLoader = Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every_seconds: float
    topic: str  # the outbox topic emitted at each run; a consumer of that topic does the work


@dataclass(frozen=True)
class Domain:
    name: str
    route_handlers: Sequence[Any] = ()
    # topic -> consumers; each consumer is identified by its qualified name for idempotency
    consumers: dict[str, Sequence[Consumer]] = field(default_factory=dict)
    periodic_jobs: Sequence[PeriodicJob] = ()
    demo_loaders: Sequence[DemoLoader] = ()
    # Called with the Runtime at start and stop; may register services (e.g. the search
    # backend) in ``runtime.services`` for controllers and consumers.
    on_startup: Sequence[Callable[[Runtime], Awaitable[None]]] = ()
    on_shutdown: Sequence[Callable[[Runtime], Awaitable[None]]] = ()
    # ASGI middleware, added after the shell's request id and security headers and before its
    # idempotency (which keys on the signed-in user), in domain order
    middleware: Sequence[Any] = ()
    # Litestar dependencies every route may name (e.g. ``principal``)
    dependencies: Mapping[str, Any] = field(default_factory=dict)
    # values put on ``app.state`` when the app is built, from the settings
    app_state: Callable[[Settings], Mapping[str, Any]] | None = None
    # Reference data every installation needs (regions, instrument categories), loaded after
    # migrations whatever the demo setting; each loader adds only what is missing.
    reference_loaders: Sequence[DemoLoader] = ()
    # Whether the database already holds this domain's records: demo data loads on a first start
    # only, when no domain does.
    holds_records: Callable[[AsyncSession], Awaitable[bool]] | None = None
    # The demo records this database holds, named as a person finds them (e.g. the demo
    # accounts' usernames): ``yixiang check`` refuses them in production, where the demo's
    # public password would let anyone in.
    demo_records: Callable[[AsyncSession], Awaitable[list[str]]] | None = None
    # What the operator should act on before users notice (next year's holidays not yet known):
    # ``yixiang check`` prints each and the start-up logs each as a warning; never fatal.
    advisories: Callable[[AsyncSession], Awaitable[list[str]]] | None = None
    # Services outside the database the domain talks to (a broker): ``yixiang check`` prints
    # each as (label, what it found); never fatal.
    probes: Callable[[Settings], Awaitable[list[tuple[str, str]]]] | None = None
    # The app's template engine (Litestar's ``TemplateConfig``) for the domain that renders pages
    # (the console); at most one domain has one.
    template_config: Any = None


def load_domains(modules: Sequence[str] = DOMAIN_MODULES) -> list[Domain]:
    domains = []
    for module_path in modules:
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as exc:
            if exc.name == module_path:
                continue  # a domain without a plugin module contributes nothing
            raise
        domains.append(module.DOMAIN)
    return domains


def consumer_name(consumer: Consumer) -> str:
    return f"{consumer.__module__}.{consumer.__qualname__}"


def idle_when(selector: IdleSelector) -> Callable[[Consumer], Consumer]:
    """Let the worker settle a batch of the consumer's events in one transaction.

    Most events need nothing from some consumers (a confirmation for a researcher who never
    linked WeChat sends no message), yet running the consumer costs a transaction per event.
    ``selector`` picks those events out of a claimed batch with one query; the worker marks them
    delivered together, as if the consumer had run and done nothing, in the selector's own
    transaction so the choice and the marks commit together.
    """

    def mark(consumer: Consumer) -> Consumer:
        consumer.idle_events = selector  # type: ignore[attr-defined]
        return consumer

    return mark


def idle_selector(consumer: Consumer) -> IdleSelector | None:
    return getattr(consumer, "idle_events", None)


async def load_demo(
    session_maker: async_sessionmaker[AsyncSession],
    domains: Sequence[Domain],
    progress: Callable[[int, int, str], None] | None = None,
) -> None:
    """Every domain's demo data, in domain order, each loader in its own transaction;
    ``progress(done, total, domain)`` after each domain that has some."""
    loading = [domain for domain in domains if domain.demo_loaders]
    for done, domain in enumerate(loading, start=1):
        for loader in domain.demo_loaders:
            async with session_maker() as session, session.begin():
                await loader(session)
        if progress is not None:
            progress(done, len(loading), domain.name)


async def load_reference_data(
    session_maker: async_sessionmaker[AsyncSession], domains: Sequence[Domain]
) -> None:
    """Every domain's reference data, in domain order, each loader in its own transaction."""
    for domain in domains:
        for loader in domain.reference_loaders:
            async with session_maker() as session, session.begin():
                await loader(session)


async def holds_records(session_maker: async_sessionmaker[AsyncSession], domains: Sequence[Domain]) -> bool:
    async with session_maker() as session:
        for domain in domains:
            if domain.holds_records is not None and await domain.holds_records(session):
                return True
    return False


async def find_advisories(
    session_maker: async_sessionmaker[AsyncSession], domains: Sequence[Domain]
) -> list[str]:
    """Every domain's advisories, each prefixed with the domain's name."""
    found: list[str] = []
    async with session_maker() as session:
        for domain in domains:
            if domain.advisories is not None:
                found.extend(f"{domain.name}: {line}" for line in await domain.advisories(session))
    return found


async def find_demo_records(
    session_maker: async_sessionmaker[AsyncSession], domains: Sequence[Domain]
) -> dict[str, list[str]]:
    """Domain name -> the demo records it finds in the database (domains finding none left out)."""
    found: dict[str, list[str]] = {}
    async with session_maker() as session:
        for domain in domains:
            if domain.demo_records is not None and (records := await domain.demo_records(session)):
                found[domain.name] = records
    return found
