"""``yixiang wechat menu push`` publishes the menu through the gateway (to the local fake here)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.menu import DEFAULT_MENU
from tests.fakes.wechat import FakeWeChat
from yixiang.cli import main


def test_menu_push_publishes_the_built_in_menu(wechat_fake: FakeWeChat, tmp_path: Path) -> None:
    env = {"YIXIANG_DATA_DIR": str(tmp_path), "YIXIANG_WECHAT_API_BASE_URL": wechat_fake.url}
    result = CliRunner().invoke(main, ["wechat", "menu", "push"], env=env)
    assert result.exit_code == 0, result.output
    assert "menu published" in result.output
    assert wechat_fake.calls_to("/cgi-bin/menu/create")[-1].body == DEFAULT_MENU


def test_with_phone_pages_the_menu_opens_them(wechat_fake: FakeWeChat, tmp_path: Path) -> None:
    env = {
        "YIXIANG_DATA_DIR": str(tmp_path),
        "YIXIANG_WECHAT_API_BASE_URL": wechat_fake.url,
        "YIXIANG_WECHAT_H5_BASE_URL": "https://yixiang.example.cn/console/m/",
    }
    result = CliRunner().invoke(main, ["wechat", "menu", "push"], env=env)
    assert result.exit_code == 0, result.output
    menu = wechat_fake.calls_to("/cgi-bin/menu/create")[-1].body
    assert menu is not None
    mine = next(b for b in menu["button"] if b["name"] == "我的")
    assert mine["sub_button"][0] == {
        "type": "view",
        "name": "手机预约",
        "url": "https://yixiang.example.cn/console/m",
    }
    assert len(mine["sub_button"]) <= 5  # WeChat's limit


def test_a_broken_menu_setting_is_reported_not_sent(wechat_fake: FakeWeChat, tmp_path: Path) -> None:
    before = len(wechat_fake.calls_to("/cgi-bin/menu/create"))
    env = {
        "YIXIANG_DATA_DIR": str(tmp_path),
        "YIXIANG_WECHAT_API_BASE_URL": wechat_fake.url,
        "YIXIANG_WECHAT_MENU": "{not json",
    }
    result = CliRunner().invoke(main, ["wechat", "menu", "push"], env=env)
    assert result.exit_code == 1 and "not valid JSON" in result.output
    assert len(wechat_fake.calls_to("/cgi-bin/menu/create")) == before
