"""The ``yixiang`` command line: serve, worker, db, demo, check (and commands domains add)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from yixiang.settings import Settings, SettingsError, domain_sections, load_settings

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"yixiang: {exc}", err=True)
        sys.exit(2)


def run_with_runtime(work: Callable[[Any], Awaitable[T]], *, migrate: bool | None = None) -> T:
    """Build a Runtime from settings, run ``work(runtime)``, and close it."""
    from yixiang.logs import configure_logging
    from yixiang.runtime import Runtime

    settings = _settings()
    configure_logging(settings.effective_log_format, settings.log_level)

    async def main() -> T:
        runtime = Runtime.build(settings)
        try:
            if migrate if migrate is not None else settings.migrate_on_start:
                from yixiang.migrate import upgrade

                await upgrade(runtime.engine)
            for domain in runtime.domains:
                for hook in domain.on_startup:
                    await hook(runtime)
            return await work(runtime)
        finally:
            await runtime.stop()

    try:  # the loop the server runs on (uvicorn picks uvloop too): the worker's sends cost less
        import uvloop
    except ImportError:  # pragma: no cover - not on Windows
        return asyncio.run(main())
    return uvloop.run(main())


def show_progress(what: str) -> Callable[[int, int], None]:
    """A long command's progress, ``what done/total``, on stderr: stdout keeps only its result."""

    def report(done: int, total: int) -> None:
        click.echo(f"{what}: {done}/{total}", err=True)

    return report


class _Commands(click.Group):
    """The shell's commands here; the domains' (``search reindex``, ``wechat menu push``, ...) from
    each domain package's ``cli`` module, loaded only when one of them, or the list, is asked for.
    Those modules import click and little else, and each command imports what it needs when it
    runs: ``yixiang --help`` and the worker's liveness probe load no domain (loading them all cost
    ~6 s of CPU per command), and neither does the supervisor process of ``serve --workers N``."""

    _domains_loaded = False

    def _load_domain_commands(self) -> None:
        if self._domains_loaded:
            return
        self._domains_loaded = True
        import importlib

        from yixiang.packages import DOMAIN_PACKAGES

        for package in DOMAIN_PACKAGES:
            try:
                module = importlib.import_module(f"{package}.cli")
            except ModuleNotFoundError as exc:
                if exc.name == f"{package}.cli":
                    continue  # a domain without commands
                raise
            for command in module.COMMANDS:
                self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_domain_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None:
            self._load_domain_commands()
            found = super().get_command(ctx, cmd_name)
        return found


@click.group(cls=_Commands)
def main() -> None:
    """仪享 yixiang — large research instruments, open to society."""


@main.command()
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1 or YIXIANG_HOST).")
@click.option("--port", default=None, type=int, help="Port (default 8000 or YIXIANG_PORT).")
@click.option("--workers", default=1, show_default=True, help="Server processes.")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the HTTP API (embedded default: with the worker in-process)."""
    import uvicorn

    from yixiang.logs import uvicorn_log_config

    settings = _settings()
    uvicorn.run(
        "yixiang.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        timeout_keep_alive=settings.keep_alive_seconds,
        # uvicorn believes X-Forwarded-For from loopback unless told otherwise: the same proxies as
        # the app's own rate limits, so the client in logs and in the scope is the one they count.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
        log_config=uvicorn_log_config(settings.effective_log_format, settings.log_level),
        log_level=settings.log_level.lower(),
        access_log=False,  # the app writes the access lines (yixiang.logs.AccessLogMiddleware)
    )


@main.command()
@click.option("--once", is_flag=True, help="Drain what is due and exit.")
@click.option(
    "--check-heartbeat",
    is_flag=True,
    help="Start no worker: exit 1 if the running worker's loop has not turned lately (a liveness probe).",
)
@click.option(
    "--heartbeat-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The file the worker's loop touches (default: worker.heartbeat in the data dir).",
)
@click.option(
    "--max-age",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="With --check-heartbeat: seconds after which the loop counts as stuck "
    "(default: what the worker wrote, twice the outbox lease plus a poll).",
)
def worker(once: bool, check_heartbeat: bool, heartbeat_file: Path | None, max_age: float | None) -> None:
    """Drain the outbox and run periodic jobs."""
    from yixiang.heartbeat import heartbeat_path

    if check_heartbeat:
        from yixiang.heartbeat import heartbeat_problem

        # Reads settings only without --heartbeat-file: the probe runs this every few seconds.
        problem = heartbeat_problem(heartbeat_file or heartbeat_path(_settings().data_dir), max_age)
        if problem:
            click.echo(f"yixiang: {problem}", err=True)
            sys.exit(1)
        click.echo("worker loop: alive")
        return

    async def work(runtime: Any) -> None:
        from yixiang.heartbeat import Heartbeat

        w = runtime.worker()
        if once:
            handled = await w.drain()
            click.echo(f"handled {handled} events")
            return
        s = runtime.settings
        # A turn of the loop may take up to a lease (a batch's events are leased for that long)
        # and the loop then waits up to a poll: twice the lease leaves room for a slow batch.
        w.heartbeat = Heartbeat(
            heartbeat_file or heartbeat_path(s.data_dir),
            stale_after=2 * s.worker_lease_seconds + s.worker_poll_seconds,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await w.run(stop)

    run_with_runtime(work)


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (PostgreSQL or SQLite)."""
    from yixiang.domains import load_reference_data
    from yixiang.migrate import current_revisions, upgrade

    async def work(runtime: Any) -> None:
        applied = await upgrade(runtime.engine, revision)
        # Every installation needs the reference data; the migrate Job is where production gets it.
        await load_reference_data(runtime.session_maker, runtime.domains)
        at = ", ".join(sorted(await current_revisions(runtime.engine))) or "(empty)"
        if not applied:
            click.echo(f"database already up to date, at {at}")
            return
        click.echo(f"applied {len(applied)} migration{'s' if len(applied) > 1 else ''}:")
        for name, doc in applied:
            click.echo(f"  {name}  {doc}")
        click.echo(f"database now at {at}")

    run_with_runtime(work, migrate=False)


@db.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models (review it before committing)."""
    from yixiang.migrate import make_revision

    make_revision(_settings().effective_database_url, message)


@main.group()
def demo() -> None:
    """Demo data."""


@demo.command("load")
def demo_load() -> None:
    """Load the demo data set (idempotent; refused in production)."""
    from yixiang.domains import load_demo

    if not _settings().is_embedded:
        # The demo accounts share a password published in the README: in production they
        # would let anyone in.
        click.echo(
            "yixiang: demo data cannot be loaded in the production profile "
            "(its accounts share a public password)",
            err=True,
        )
        sys.exit(2)

    def report(done: int, total: int, domain: str) -> None:
        click.echo(f"loading demo data: {done}/{total} domains ({domain})", err=True)

    async def work(runtime: Any) -> None:
        await load_demo(runtime.session_maker, runtime.domains, report)
        click.echo("loading demo data: handling its events (search index, notifications)", err=True)
        handled = await runtime.worker().drain()
        click.echo(f"demo data loaded ({handled} events handled)")

    run_with_runtime(work, migrate=True)


@main.command()
def check() -> None:
    """Report the configuration and whether the database and store are reachable; exit 1 when
    something needs the operator (unreachable, schema behind, demo data in production)."""
    from yixiang.migrate import current_revisions, head_revisions

    async def work(runtime: Any) -> bool:
        s = runtime.settings
        click.echo(f"profile:        {s.profile}")
        click.echo(f"database:       {_redact_url(s.effective_database_url)}")
        click.echo(f"store:          {'redis ' + _redact_url(s.redis_url) if s.redis_url else 'in-memory'}")
        for section in domain_sections():
            for label, value in section.of(s).describe().items():
                click.echo(f"{label + ':':<16}{value}")
        ok = True
        try:
            current = await current_revisions(runtime.engine)
        except Exception as exc:
            ok = False
            click.echo(f"database:       UNREACHABLE ({type(exc).__name__}: {exc})")
        else:
            heads = head_revisions()
            if current == heads:
                click.echo("database:       reachable, schema up to date")
            else:
                ok = False
                click.echo(
                    f"database:       reachable, schema NEEDS UPGRADE ({sorted(current)} -> {sorted(heads)}):"
                    " run `yixiang db upgrade`"
                )
            ok = await _check_demo_data(runtime) and ok
            await _print_advisories(runtime)
        try:
            await runtime.store.ping()
            click.echo("store:          reachable")
        except Exception as exc:
            ok = False
            click.echo(f"store:          UNREACHABLE ({type(exc).__name__})")
        for domain in runtime.domains:
            if domain.probes is not None:
                for label, found in await domain.probes(s):
                    click.echo(f"{label + ':':<16}{found}")
        return ok

    if not run_with_runtime(work, migrate=False):
        sys.exit(1)


async def _check_demo_data(runtime: Any) -> bool:
    """Report the demo records the database holds; False when the profile forbids them."""
    from yixiang.domains import find_demo_records

    try:
        found = await find_demo_records(runtime.session_maker, runtime.domains)
    except Exception as exc:  # a schema not yet migrated has no tables to look in
        click.echo(f"demo data:      not checked ({type(exc).__name__})")
        return True
    if not found:
        click.echo("demo data:      none")
        return True
    listed = "; ".join(f"{domain}: {', '.join(records)}" for domain, records in found.items())
    if runtime.settings.is_embedded:
        click.echo(f"demo data:      {listed}")
        return True
    click.echo(
        f"demo data:      FOUND IN PRODUCTION ({listed}): the demo accounts share a public password, "
        "delete them"
    )
    return False


async def _print_advisories(runtime: Any) -> None:
    """What the operator should act on soon (a warning, not a failure: exit status unchanged)."""
    from yixiang.domains import find_advisories

    try:
        advisories = await find_advisories(runtime.session_maker, runtime.domains)
    except Exception as exc:
        click.echo(f"advisories:     not checked ({type(exc).__name__})")
        return
    if not advisories:
        click.echo("advisories:     none")
    for line in advisories:
        click.echo(f"advisory:       {line}")


def _redact_url(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


if __name__ == "__main__":
    main()
