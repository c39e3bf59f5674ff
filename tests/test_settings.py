"""Start-up settings: every wrong value is named; production refuses unsafe configurations."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from accounts.settings import AccountsSettings
from bot.settings import WeChatSettings
from ratings.settings import RatingsSettings
from results.settings import ResultsSettings
from search.settings import SearchSettings
from yixiang.cli import main
from yixiang.runtime import Runtime
from yixiang.settings import DEFAULT_SECRET, SettingsError, load_settings

PRODUCTION = {
    "YIXIANG_PROFILE": "production",
    "YIXIANG_DATABASE_URL": "postgresql+asyncpg://yixiang@db/yixiang",
    "YIXIANG_REDIS_URL": "redis://cache:6379/0",
    "YIXIANG_MEILI_URL": "http://search:7700",
    "YIXIANG_MEILI_KEY": "meili-master-key",
    "YIXIANG_SECRET_KEY": "x" * 48,
    "YIXIANG_RESULTS_STORAGE": "s3",
    "YIXIANG_S3_BUCKET": "yixiang-results",
    "YIXIANG_S3_ACCESS_KEY": "access",
    "YIXIANG_S3_SECRET_KEY": "secret",
}


def test_embedded_default_needs_nothing():
    s = load_settings({})
    assert s.profile == "embedded"
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert SearchSettings.of(s).backend == "database"
    assert (
        AccountsSettings.of(s).dev_login_enabled
        and s.demo_data_enabled
        and s.run_worker_in_process
        and s.migrate_on_start
    )
    assert not s.redis_url


def test_every_wrong_value_is_reported_with_its_variable():
    with pytest.raises(SettingsError) as exc:
        load_settings(
            {"YIXIANG_PORT": "eighty", "YIXIANG_PROFILE": "staging", "YIXIANG_ACCESS_TOKEN_MINUTES": "0"}
        )
    message = str(exc.value)
    assert "YIXIANG_PORT='eighty'" in message
    assert "YIXIANG_PROFILE='staging'" in message
    assert "YIXIANG_ACCESS_TOKEN_MINUTES='0'" in message


def test_production_with_everything_set_starts():
    s = load_settings(PRODUCTION)
    assert (
        not AccountsSettings.of(s).dev_login_enabled
        and not s.demo_data_enabled
        and not s.run_worker_in_process
    )
    assert SearchSettings.of(s).backend == "meilisearch"
    assert s.effective_log_format == "json"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"YIXIANG_DATABASE_URL": ""}, "YIXIANG_DATABASE_URL"),
        ({"YIXIANG_REDIS_URL": ""}, "YIXIANG_REDIS_URL"),
        ({"YIXIANG_MEILI_KEY": ""}, "YIXIANG_MEILI_KEY"),
        ({"YIXIANG_SECRET_KEY": DEFAULT_SECRET}, "YIXIANG_SECRET_KEY"),
        ({"YIXIANG_SECRET_KEY": "short"}, "YIXIANG_SECRET_KEY"),
        ({"YIXIANG_DEV_LOGIN": "true"}, "YIXIANG_DEV_LOGIN"),
        ({"YIXIANG_DEMO_DATA": "1"}, "YIXIANG_DEMO_DATA"),
        # Result files on each pod's own disk: lost on restart, invisible to the other replicas.
        ({"YIXIANG_RESULTS_STORAGE": "local"}, "YIXIANG_RESULTS_SHARED_VOLUME"),
        ({"YIXIANG_S3_SECRET_KEY": ""}, "YIXIANG_S3_SECRET_KEY"),
        # What the k8s overlay used to ship, and the embedded default's public demo values.
        ({"YIXIANG_WECHAT_APP_ID": "wx0000000000000000"}, "YIXIANG_WECHAT_APP_ID"),
        ({"YIXIANG_WECHAT_APP_ID": "wx5f3c9a7e2d1b0a00"}, "YIXIANG_WECHAT_APP_ID"),
        ({"YIXIANG_WECHAT_APP_ID": "wx-my-app"}, "YIXIANG_WECHAT_APP_ID"),
        ({"YIXIANG_WECHAT_APP_ID": "wx7c1e4b9a20d3f5e6"}, "YIXIANG_WECHAT_APP_SECRET"),
        ({"YIXIANG_WECHAT_APP_SECRET": "CHANGE-ME"}, "YIXIANG_WECHAT_APP_SECRET"),
        ({"YIXIANG_WECHAT_TOKEN": "yixiangdemotoken"}, "YIXIANG_WECHAT_TOKEN"),
        ({"YIXIANG_WECHAT_AES_KEY": "x" * 43}, "YIXIANG_WECHAT_AES_KEY"),
    ],
)
def test_production_refuses_unsafe_or_missing_settings(change, named):
    env = {k: v for k, v in (PRODUCTION | change).items() if v != ""}
    with pytest.raises(SettingsError) as exc:
        load_settings(env)
    assert named in str(exc.value)
    assert "production profile refuses to start" in str(exc.value)


def test_production_keeps_result_files_locally_only_on_a_volume_said_to_be_shared():
    local = PRODUCTION | {"YIXIANG_RESULTS_STORAGE": "local", "YIXIANG_RESULTS_SHARED_VOLUME": "true"}
    assert ResultsSettings.of(load_settings(local)).shared_volume
    assert ResultsSettings.of(load_settings({"YIXIANG_RESULTS_STORAGE": "local"})).storage == "local"


def test_production_takes_real_wechat_settings():
    real = {
        "YIXIANG_WECHAT_APP_ID": "wx7c1e4b9a20d3f5e6",
        "YIXIANG_WECHAT_APP_SECRET": "4f9d0c2b7a1e8d3c6b5a49e8f7d2c1b0",
        "YIXIANG_WECHAT_TOKEN": "Qm7tR2vX9kLp4sWz",
        "YIXIANG_WECHAT_AES_KEY": "a8Kd93JfLq02ZxPmWn47RtYb6VcHs15GeUo2NiMk3Dj",
        "YIXIANG_WECHAT_SERVICE_DESK": "仪享客服 0571-87654321（工作日 9:00-17:00）",
    }
    assert WeChatSettings.of(load_settings(PRODUCTION | real)).app_id == "wx7c1e4b9a20d3f5e6"
    with pytest.raises(SettingsError, match="YIXIANG_WECHAT_SERVICE_DESK"):
        load_settings(PRODUCTION | real | {"YIXIANG_WECHAT_SERVICE_DESK": ""})
    with pytest.raises(SettingsError, match="YIXIANG_WECHAT_SERVICE_DESK"):
        load_settings(PRODUCTION | {k: v for k, v in real.items() if not k.endswith("SERVICE_DESK")})


def test_production_without_meilisearch_when_database_search_is_chosen():
    env = {k: v for k, v in PRODUCTION.items() if not k.startswith("YIXIANG_MEILI")}
    s = load_settings(env | {"YIXIANG_SEARCH_BACKEND": "database"})
    assert SearchSettings.of(s).backend == "database"


async def test_database_pool_is_sized_by_its_settings():
    env = {"YIXIANG_DATABASE_URL": "postgresql+asyncpg://yixiang@db/yixiang"}
    runtime = Runtime.build(
        load_settings(env | {"YIXIANG_DATABASE_POOL_SIZE": "32", "YIXIANG_DATABASE_MAX_OVERFLOW": "0"})
    )
    try:
        assert runtime.engine.pool.size() == 32
        assert runtime.engine.pool._max_overflow == 0  # type: ignore[attr-defined]
    finally:
        await runtime.engine.dispose()
    with pytest.raises(SettingsError, match="YIXIANG_DATABASE_POOL_SIZE='0'"):
        load_settings(env | {"YIXIANG_DATABASE_POOL_SIZE": "0"})


def test_settings_file_and_environment(tmp_path):
    config = tmp_path / "yixiang.toml"
    config.write_text('port = 9001\ncors_origins = ["https://mp.example.cn"]\n', encoding="utf-8")
    s = load_settings({"YIXIANG_CONFIG_FILE": str(config), "YIXIANG_HOST": "0.0.0.0"})
    assert (s.port, s.host, s.cors_origins) == (9001, "0.0.0.0", ["https://mp.example.cn"])
    assert load_settings({"YIXIANG_CONFIG_FILE": str(config), "YIXIANG_PORT": "9002"}).port == 9002
    config.write_text("prot = 9001\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown settings prot"):
        load_settings({"YIXIANG_CONFIG_FILE": str(config)})


def test_serve_refuses_to_start_and_names_the_variable():
    result = CliRunner().invoke(main, ["serve"], env={"YIXIANG_PROFILE": "production"})
    assert result.exit_code == 2
    assert "YIXIANG_SECRET_KEY" in result.output
    assert "YIXIANG_DATABASE_URL" in result.output


def test_check_reports_an_unreachable_database(tmp_path):
    env = {
        "YIXIANG_DATA_DIR": str(tmp_path),
        "YIXIANG_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none",
        "YIXIANG_LOG_LEVEL": "ERROR",
    }
    result = CliRunner().invoke(main, ["check"], env=env)
    assert result.exit_code == 1
    assert "UNREACHABLE" in result.output
    assert "nobody@127.0.0.1:1/none" in result.output


def test_check_reports_a_healthy_embedded_setup(tmp_path):
    env = {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_LOG_LEVEL": "ERROR"}
    assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    result = CliRunner().invoke(main, ["check"], env=env)
    assert result.exit_code == 0, result.output
    assert "schema up to date" in result.output


def test_db_upgrade_says_what_it_applied(tmp_path):
    env = {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_LOG_LEVEL": "ERROR"}
    first = CliRunner().invoke(main, ["db", "upgrade", "--revision", "0002_catalogue"], env=env)
    assert first.exit_code == 0, first.output
    assert "applied 2 migrations" in first.output
    assert "0001_shell" in first.output and "0002_catalogue" in first.output
    assert "up to date" not in first.output
    rest = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert "0001_shell" not in rest.output and "0003_bookings" in rest.output
    again = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert "already up to date" in again.output and "applied" not in again.output


def test_check_fails_while_the_schema_needs_an_upgrade(tmp_path):
    env = {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_LOG_LEVEL": "ERROR"}
    assert CliRunner().invoke(main, ["db", "upgrade", "--revision", "0005_bot"], env=env).exit_code == 0
    result = CliRunner().invoke(main, ["check"], env=env)
    assert result.exit_code == 1, result.output
    assert "NEEDS UPGRADE" in result.output and "yixiang db upgrade" in result.output


def test_each_domain_reads_its_own_section_from_the_same_variables(tmp_path):
    s = load_settings(
        {
            "YIXIANG_RESULTS_MAX_FILE_BYTES": "5000",
            "YIXIANG_RATING_WINDOW_DAYS": "7",
            "YIXIANG_WECHAT_TEMPLATE_IDS": '{"booking.confirmed": "tpl-1"}',
            "YIXIANG_SEARCH_BACKEND": "",
        }
    )
    assert ResultsSettings.of(s).max_file_bytes == 5000
    assert RatingsSettings.of(s).window_days == 7
    assert WeChatSettings.of(s).template_ids["booking.confirmed"] == "tpl-1"
    assert SearchSettings.of(s).backend == "database"  # empty means unset: the profile decides
    config = tmp_path / "yixiang.toml"
    config.write_text("rating_window_days = 9\nresults_storage = 's3'\n", encoding="utf-8")
    with pytest.raises(SettingsError) as refused:
        load_settings({"YIXIANG_CONFIG_FILE": str(config)})
    assert "YIXIANG_S3_BUCKET" in str(refused.value)  # the results section checks its own needs
    with pytest.raises(SettingsError, match="YIXIANG_RATING_WINDOW_DAYS='0'"):
        load_settings({"YIXIANG_RATING_WINDOW_DAYS": "0"})
