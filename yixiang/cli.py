"""The ``yixiang`` command line: serve, worker, db, demo, check (and commands domains add)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
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


class _Commands(click.Group):
    """The shell's commands here, the domains' (``search reindex``, ``wechat menu push``, ...)
    loaded only when one of them, or the list, is asked for: importing every domain made the
    process that ``serve --workers N`` keeps as uvicorn's supervisor hold ~130 MB for nothing."""

    _domains_loaded = False

    def _load_domain_commands(self) -> None:
        if self._domains_loaded:
            return
        self._domains_loaded = True
        from yixiang.domains import load_domains

        for domain in load_domains():
            for command in domain.cli_commands:
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

    settings = _settings()
    uvicorn.run(
        "yixiang.asgi:app",
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        # uvicorn believes X-Forwarded-For from loopback unless told otherwise: the same proxies as
        # the app's own rate limits, so the client in logs and in the scope is the one they count.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
        log_level=settings.log_level.lower(),
        access_log=False,
    )


@main.command()
@click.option("--once", is_flag=True, help="Drain what is due and exit.")
def worker(once: bool) -> None:
    """Drain the outbox and run periodic jobs."""

    async def work(runtime: Any) -> None:
        w = runtime.worker()
        if once:
            handled = await w.drain()
            click.echo(f"handled {handled} events")
            return
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
    from yixiang.migrate import upgrade

    async def work(runtime: Any) -> None:
        await upgrade(runtime.engine, revision)
        click.echo("database is up to date")

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
    """Load the demo data set (idempotent)."""
    from yixiang.domains import load_demo

    async def work(runtime: Any) -> None:
        await load_demo(runtime.session_maker, runtime.domains)
        await runtime.worker().drain()
        click.echo("demo data loaded")

    run_with_runtime(work, migrate=True)


@main.command()
def check() -> None:
    """Report the configuration and whether the database and store are reachable."""
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
            heads = head_revisions()
            state = (
                "up to date" if current == heads else f"needs upgrade ({sorted(current)} -> {sorted(heads)})"
            )
            click.echo(f"database:       reachable, schema {state}")
        except Exception as exc:
            ok = False
            click.echo(f"database:       UNREACHABLE ({type(exc).__name__}: {exc})")
        try:
            await runtime.store.ping()
            click.echo("store:          reachable")
        except Exception as exc:
            ok = False
            click.echo(f"store:          UNREACHABLE ({type(exc).__name__})")
        return ok

    if not run_with_runtime(work, migrate=False):
        sys.exit(1)


def _redact_url(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


if __name__ == "__main__":
    main()
