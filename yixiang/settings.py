"""Typed settings from ``YIXIANG_*`` environment variables and an optional TOML file.

Two profiles: ``embedded`` (the default: SQLite under the data directory, in-memory store,
database-backed search, demo data, worker in-process, dev sign-in) and ``production``
(PostgreSQL, Redis and Meilisearch required; dev sign-in and default secrets refused).

The shell's own settings are the fields of :class:`Settings`. Each domain owns its section: a
:class:`Section` subclass in ``<domain>/settings.py`` (listed in that module's ``SECTIONS``),
read from ``YIXIANG_<PREFIX><FIELD>`` like the shell's fields, checked at start with them, and
reached as ``ResultsSettings.of(settings)``.
"""

from __future__ import annotations

import importlib
import ipaddress
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar

import msgspec

ENV_PREFIX = "YIXIANG_"
DEFAULT_SECRET = "embedded-default-secret-for-local-use-only-change-me"

Profile = Literal["embedded", "production"]


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the environment variable."""


class Section(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A domain's part of the settings. Every field has a default; ``env_prefix`` + the field's
    name, upper-cased, is its variable after ``YIXIANG_`` (and, lower-cased, its TOML key)."""

    env_prefix: ClassVar[str] = ""

    def resolve(self, settings: Settings) -> None:
        """Fill what depends on the profile (called once, when the settings are built)."""

    def problems(self, settings: Settings) -> list[str]:
        """What makes this section unfit for the profile; each names its variable."""
        return []

    def describe(self) -> dict[str, str]:
        """What ``yixiang check`` shows of this section (never a secret)."""
        return {}

    @classmethod
    def of(cls, settings: Settings) -> Self:
        return settings.section(cls)

    @classmethod
    def setting_key(cls, field: str) -> str:
        return (cls.env_prefix + field).lower()


S = TypeVar("S", bound=Section)


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, dict=True):
    profile: Profile = "embedded"
    data_dir: str = "var"
    database_url: str = ""
    # PostgreSQL connections each process keeps open, and how many more it may open under load
    # (each extra one is closed when returned: size the pool to a process's usual concurrency).
    database_pool_size: Annotated[int, msgspec.Meta(ge=1, le=500)] = 10
    database_max_overflow: Annotated[int, msgspec.Meta(ge=0, le=500)] = 20
    # PostgreSQL streaming replicas for the read-only routes (yixiang.replicas); writes, and a
    # user's reads for this many seconds after their own write, stay on the primary.
    database_read_urls: list[str] = msgspec.field(default_factory=list)
    database_read_sticky_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 10
    redis_url: str = ""
    redis_prefix: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "yixiang:"
    # Signs tokens and links; every domain that signs something uses this one secret.
    secret_key: str = DEFAULT_SECRET
    demo_data: bool | None = None
    worker_in_process: bool | None = None
    auto_migrate: bool | None = None
    log_format: Literal["text", "json"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    # How long `yixiang serve` keeps an idle keep-alive connection open. Behind a proxy that keeps
    # its upstream connections longer, a shorter time here races the proxy's next request on a
    # closing connection (a 502 for that request): set it above the proxy's idle timeout.
    keep_alive_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 5
    cors_origins: list[str] = msgspec.field(default_factory=list)
    # The browsable API documentation at /schema (yixiang.api_docs); the OpenAPI document stays.
    api_docs: bool = True
    idempotency_ttl_hours: Annotated[int, msgspec.Meta(ge=1, le=24 * 30)] = 24
    # How long a running request holds its Idempotency-Key without renewing it (it renews every
    # third of it): a request whose process died gives its key up after at most this long.
    idempotency_lease_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 30
    worker_poll_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    worker_lease_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    worker_max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 8
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 1024 * 1024
    # A request body that sends nothing for this long is answered 408 (the connection is closed).
    body_idle_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    rate_limit_sign_in_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 20
    rate_limit_search_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 240
    rate_limit_booking_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 60
    # Admission control (yixiang.admission): requests one process runs at a time, how many more may
    # wait, and for how long, before the excess is answered 503 with Retry-After at once. Few in
    # flight: they share one core, so each of 32 would take 32 times its CPU (BENCHMARKS.md, Load).
    admission_max_in_flight: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 8
    admission_max_queued: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 64
    admission_max_wait_ms: Annotated[int, msgspec.Meta(ge=1, le=60_000)] = 50
    # The same for transfers (result uploads and downloads, exports, imports): they last as long
    # as the file takes to stream, so they have their own few slots and may wait longer.
    admission_transfers_max_in_flight: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 4
    admission_transfers_max_queued: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 16
    admission_transfers_max_wait_ms: Annotated[int, msgspec.Meta(ge=1, le=600_000)] = 5_000
    # When set, /metrics answers only a request bearing it (Authorization: Bearer <token>).
    metrics_token: str = ""
    # Proxies (addresses or CIDRs) whose X-Forwarded-For is believed: the client is the right-most
    # address in it that is not one of them. None by default: a header anyone can send is no
    # address (rate limits by address would be a client's choice).
    trusted_proxies: list[str] = msgspec.field(default_factory=list)

    def section(self, cls: type[S]) -> S:
        """The domain's section; built from defaults if these settings were made without it."""
        sections: dict[type[Section], Section] = self.__dict__.setdefault("_sections", {})
        found = sections.get(cls)
        if found is None:
            found = sections[cls] = cls()
            found.resolve(self)
        return typing.cast(S, found)

    # --- derived views (profile defaults resolved) ---------------------------------------
    @property
    def is_embedded(self) -> bool:
        return self.profile == "embedded"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir) / 'yixiang.db'}"

    @property
    def demo_data_enabled(self) -> bool:
        return self.is_embedded if self.demo_data is None else self.demo_data

    @property
    def run_worker_in_process(self) -> bool:
        return self.is_embedded if self.worker_in_process is None else self.worker_in_process

    @property
    def migrate_on_start(self) -> bool:
        return self.is_embedded if self.auto_migrate is None else self.auto_migrate

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "text" if self.is_embedded else "json"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


# What a value left from a template or an example says of itself.
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "placeholder", "example", "replace-me", "your-")


def looks_like_placeholder(value: str, demo_values: frozenset[str] = frozenset()) -> bool:
    """A known demo value, a template's word, or one character repeated (``wx0000000000000000``)."""
    lowered = value.lower()
    if value in demo_values or any(word in lowered for word in PLACEHOLDER_WORDS):
        return True
    return len(set(lowered.removeprefix("wx"))) <= 1


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


def domain_sections() -> list[type[Section]]:
    """The sections of the domains the shell loads (``<package>.settings``, where it exists)."""
    from yixiang.packages import DOMAIN_PACKAGES

    sections: list[type[Section]] = []
    for package in DOMAIN_PACKAGES:
        module_path = package + ".settings"
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as exc:
            if exc.name == module_path:
                continue
            raise
        sections.extend(module.SECTIONS)
    return sections


def _owners(sections: list[type[Section]]) -> dict[str, tuple[type[msgspec.Struct], str]]:
    """Each setting's key -> the struct that holds it and its field there."""
    owners: dict[str, tuple[type[msgspec.Struct], str]] = {
        f.name: (Settings, f.name) for f in msgspec.structs.fields(Settings)
    }
    for section in sections:
        for f in msgspec.structs.fields(section):
            owners[section.setting_key(f.name)] = (section, f.name)
    return owners


def _optional(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def _coerce_env(tp: Any, raw: str) -> Any:
    """Environment values are strings: lists are comma-separated, mappings JSON, and an empty
    value of an optional setting means "not set"."""
    base = typing.get_origin(tp) or tp
    if base is list:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if base is dict:
        try:
            return msgspec.json.decode(raw or "{}")
        except msgspec.DecodeError:
            return raw  # reported as a wrong value naming the variable
    if raw == "" and _optional(tp):
        return None
    return raw


def _field_types(cls: type[msgspec.Struct]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=False)
    return {f.name: hints[f.name] for f in msgspec.structs.fields(cls)}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings; raise :class:`SettingsError` naming every wrong variable."""
    env = dict(os.environ if environ is None else environ)
    sections = domain_sections()
    owners = _owners(sections)
    raw: dict[str, Any] = {}
    config_file = env.get(ENV_PREFIX + "CONFIG_FILE")
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                raw.update({str(k).lower(): v for k, v in tomllib.load(fh).items()})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"{ENV_PREFIX}CONFIG_FILE: cannot read {config_file!r}: {exc}") from exc
        unknown = sorted(set(raw) - set(owners))
        if unknown:
            raise SettingsError(f"{ENV_PREFIX}CONFIG_FILE: unknown settings {', '.join(unknown)}")
    structs: list[type[msgspec.Struct]] = [Settings, *sections]
    types_of = {cls: _field_types(cls) for cls in structs}
    for key, (cls, name) in owners.items():
        if env_name(key) in env:
            raw[key] = _coerce_env(types_of[cls][name], env[env_name(key)])
    return build_settings(raw, sections)


def build_settings(values: dict[str, Any], sections: list[type[Section]] | None = None) -> Settings:
    """Settings from values by key (the variable's name without ``YIXIANG_``, lower-case), the
    shell's and the domains' alike; raise :class:`SettingsError` naming every wrong one."""
    sections = domain_sections() if sections is None else sections
    owners = _owners(sections)
    errors: list[str] = []
    by_owner: dict[type[msgspec.Struct], dict[str, Any]] = {}
    # Convert field by field so every wrong value is reported, not just the first.
    for key, value in values.items():
        if key not in owners:
            errors.append(f"{env_name(key)}: unknown setting")
            continue
        cls, name = owners[key]
        try:
            probe = msgspec.convert({name: value}, cls, strict=False)
            by_owner.setdefault(cls, {})[name] = getattr(probe, name)
        except msgspec.ValidationError as exc:
            reason = str(exc).split(" - at ")[0]
            errors.append(f"{env_name(key)}={value!r}: {reason}")
    if errors:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(errors))
    settings = Settings(**by_owner.get(Settings, {}))
    built: dict[type[Section], Section] = settings.__dict__.setdefault("_sections", {})
    for section in sections:
        built[section] = instance = section(**by_owner.get(section, {}))
        instance.resolve(settings)
    errors = _profile_errors(settings)
    for section in sections:
        errors.extend(built[section].problems(settings))
    if errors:
        raise SettingsError(f"{settings.profile} profile refuses to start:\n  " + "\n  ".join(errors))
    return settings


def _trusted_proxy_errors(s: Settings) -> list[str]:
    errors = []
    for entry in s.trusted_proxies:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            errors.append(f"{env_name('trusted_proxies')}: {entry!r} is not an address or a CIDR network")
    return errors


def _profile_errors(s: Settings) -> list[str]:
    errors = _trusted_proxy_errors(s)
    if s.profile != "production":
        return errors
    if not s.database_url.startswith("postgresql"):
        errors.append(f"{env_name('database_url')} must be a postgresql+asyncpg:// URL in production")
    if not s.redis_url.startswith(("redis://", "rediss://")):
        errors.append(f"{env_name('redis_url')} must be a redis:// URL in production")
    if s.secret_key == DEFAULT_SECRET or len(s.secret_key) < 32:
        errors.append(f"{env_name('secret_key')} must be set to a random value of at least 32 characters")
    if s.demo_data:
        errors.append(f"{env_name('demo_data')} cannot be enabled in production")
    if any(not url.startswith("postgresql") for url in s.database_read_urls):
        errors.append(f"{env_name('database_read_urls')} must be postgresql+asyncpg:// URLs")
    if s.metrics_token and (len(s.metrics_token) < 16 or looks_like_placeholder(s.metrics_token)):
        errors.append(f"{env_name('metrics_token')} must be a random value of at least 16 characters")
    return errors
