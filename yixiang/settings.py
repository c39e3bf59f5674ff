"""Typed settings from ``YIXIANG_*`` environment variables and an optional TOML file.

Two profiles: ``embedded`` (the default: SQLite under the data directory, in-memory store,
database-backed search, demo data, worker in-process, dev sign-in) and ``production``
(PostgreSQL, Redis and Meilisearch required; dev sign-in and default secrets refused).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

ENV_PREFIX = "YIXIANG_"
DEFAULT_SECRET = "embedded-default-secret-for-local-use-only-change-me"

Profile = Literal["embedded", "production"]
SearchBackend = Literal["database", "meilisearch"]


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the environment variable."""


class Settings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    profile: Profile = "embedded"
    data_dir: str = "var"
    database_url: str = ""
    # PostgreSQL connections each process keeps open, and how many more it may open under load
    # (each extra one is closed when returned: size the pool to a process's usual concurrency).
    database_pool_size: Annotated[int, msgspec.Meta(ge=1, le=500)] = 10
    database_max_overflow: Annotated[int, msgspec.Meta(ge=0, le=500)] = 20
    redis_url: str = ""
    redis_prefix: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "yixiang:"
    search_backend: SearchBackend | None = None
    # Search answers remembered per API process until the next index write (0: none).
    search_cache_entries: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 500
    meili_url: str = ""
    meili_key: str = ""
    secret_key: str = DEFAULT_SECRET
    access_token_minutes: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)] = 15
    refresh_token_days: Annotated[int, msgspec.Meta(ge=1, le=90)] = 14
    dev_login: bool | None = None
    demo_data: bool | None = None
    worker_in_process: bool | None = None
    auto_migrate: bool | None = None
    log_format: Literal["text", "json"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    cors_origins: list[str] = msgspec.field(default_factory=list)
    idempotency_ttl_hours: Annotated[int, msgspec.Meta(ge=1, le=24 * 30)] = 24
    worker_poll_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    worker_lease_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    worker_max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 8
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 1024 * 1024
    rate_limit_sign_in_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 20
    rate_limit_search_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 240
    rate_limit_booking_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 60
    # One firm must not hold every slot: at most this many requests awaiting approval per instrument.
    max_open_requests_per_instrument: Annotated[int, msgspec.Meta(ge=1)] = 3
    listing_value_threshold_fen: Annotated[int, msgspec.Meta(ge=0)] = 50_000_000
    results_storage: Literal["local", "s3"] = "local"
    results_max_file_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 200 * 1024 * 1024
    results_link_ttl_seconds: Annotated[int, msgspec.Meta(ge=10, le=86400)] = 300
    results_retention_days: Annotated[int, msgspec.Meta(ge=1)] = 5 * 365
    s3_endpoint_url: str = ""
    s3_bucket: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "cn-north-1"
    rating_window_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30
    wechat_app_id: str = ""
    wechat_app_secret: str = ""
    wechat_token: str = ""
    wechat_aes_key: str = ""
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    # The mini-program has its own app id and secret (empty: the official account's are used).
    wechat_miniprogram_app_id: str = ""
    wechat_miniprogram_app_secret: str = ""
    # Outbox topic -> template id (official account) / subscribe-message template id (mini-program);
    # in the environment as JSON, e.g. YIXIANG_WECHAT_TEMPLATE_IDS='{"booking.confirmed": "abc"}'.
    wechat_template_ids: dict[str, str] = msgspec.field(default_factory=dict)
    wechat_subscribe_template_ids: dict[str, str] = msgspec.field(default_factory=dict)
    # The official account's custom menu as WeChat's JSON (empty: the built-in menu of the bot).
    wechat_menu: str = ""
    # Where links in bot messages point (H5 pages); empty: no links, text only.
    wechat_h5_base_url: str = ""

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
    def effective_search_backend(self) -> SearchBackend:
        if self.search_backend:
            return self.search_backend
        return "database" if self.is_embedded else "meilisearch"

    @property
    def dev_login_enabled(self) -> bool:
        return self.is_embedded if self.dev_login is None else self.dev_login

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


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


_FIELDS = {f.name: f for f in msgspec.structs.fields(Settings)}


def _coerce_env(field: str, raw: str) -> Any:
    """Environment values are strings; lists are comma-separated."""
    if field == "cors_origins":
        return [item.strip() for item in raw.split(",") if item.strip()]
    if field in {"wechat_template_ids", "wechat_subscribe_template_ids"}:
        try:
            return msgspec.json.decode(raw or "{}")
        except msgspec.DecodeError:
            return raw  # reported as a wrong value naming the variable
    if raw == "" and field in {
        "dev_login",
        "demo_data",
        "worker_in_process",
        "auto_migrate",
        "log_format",
        "search_backend",
    }:
        return None
    return raw


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read settings; raise :class:`SettingsError` naming every wrong variable."""
    env = dict(os.environ if environ is None else environ)
    raw: dict[str, Any] = {}
    config_file = env.get(ENV_PREFIX + "CONFIG_FILE")
    if config_file:
        try:
            with open(config_file, "rb") as fh:
                raw.update({str(k).lower(): v for k, v in tomllib.load(fh).items()})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"{ENV_PREFIX}CONFIG_FILE: cannot read {config_file!r}: {exc}") from exc
        unknown = sorted(set(raw) - set(_FIELDS))
        if unknown:
            raise SettingsError(f"{ENV_PREFIX}CONFIG_FILE: unknown settings {', '.join(unknown)}")
    for name in _FIELDS:
        key = env_name(name)
        if key in env:
            raw[name] = _coerce_env(name, env[key])

    errors: list[str] = []
    values: dict[str, Any] = {}
    # Convert field by field so every wrong value is reported, not just the first.
    for name, value in raw.items():
        try:
            probe = msgspec.convert({name: value}, Settings, strict=False)
            values[name] = getattr(probe, name)
        except msgspec.ValidationError as exc:
            reason = str(exc).split(" - at ")[0]
            errors.append(f"{env_name(name)}={value!r}: {reason}")
    if errors:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(errors))
    settings = Settings(**values)
    errors = _profile_errors(settings)
    if errors:
        raise SettingsError(f"{settings.profile} profile refuses to start:\n  " + "\n  ".join(errors))
    return settings


def _profile_errors(s: Settings) -> list[str]:
    errors: list[str] = []
    if s.results_storage == "s3" and not (s.s3_bucket and s.s3_access_key and s.s3_secret_key):
        errors.append(
            f"{env_name('s3_bucket')}, {env_name('s3_access_key')} and {env_name('s3_secret_key')} "
            "are required when results are stored in S3"
        )
    if s.profile != "production":
        return errors
    if not s.database_url.startswith("postgresql"):
        errors.append(f"{env_name('database_url')} must be a postgresql+asyncpg:// URL in production")
    if not s.redis_url.startswith(("redis://", "rediss://")):
        errors.append(f"{env_name('redis_url')} must be a redis:// URL in production")
    if s.effective_search_backend == "meilisearch" and not (s.meili_url and s.meili_key):
        errors.append(
            f"{env_name('meili_url')} and {env_name('meili_key')} are required in production "
            f"(or set {env_name('search_backend')}=database)"
        )
    if s.secret_key == DEFAULT_SECRET or len(s.secret_key) < 32:
        errors.append(f"{env_name('secret_key')} must be set to a random value of at least 32 characters")
    if s.dev_login:
        errors.append(f"{env_name('dev_login')} cannot be enabled in production")
    if s.demo_data:
        errors.append(f"{env_name('demo_data')} cannot be enabled in production")

    return errors
