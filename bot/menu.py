"""The official account's custom menu: the built-in one, or the configured one (WeChat's JSON)."""

from __future__ import annotations

from typing import Any

import msgspec

from bot.settings import WeChatSettings
from yixiang.settings import Settings

DEFAULT_MENU: dict[str, Any] = {
    "button": [
        {"type": "click", "name": "找仪器", "key": "YX_SEARCH"},
        {
            "name": "我的",
            "sub_button": [
                {"type": "click", "name": "我的预约", "key": "YX_MY_BOOKINGS"},
                {"type": "click", "name": "检测结果", "key": "YX_RESULTS"},
                {"type": "click", "name": "创新券余额", "key": "YX_VOUCHER"},
                {"type": "click", "name": "绑定账号", "key": "YX_BIND"},
            ],
        },
        {"type": "click", "name": "帮助", "key": "YX_HELP"},
    ]
}


class MenuInvalid(ValueError):
    pass


def with_phone_pages(h5_base_url: str) -> dict[str, Any]:
    """The built-in menu, and with phone pages to open (``h5_base_url``) a 手机预约 entry under 我的
    that opens them in WeChat's browser (signed in by WeChat's web authorisation)."""
    if not h5_base_url.strip():
        return DEFAULT_MENU
    mine = {**DEFAULT_MENU["button"][1]}
    mine["sub_button"] = [
        {"type": "view", "name": "手机预约", "url": h5_base_url.rstrip("/")},
        *mine["sub_button"],
    ]
    return {"button": [DEFAULT_MENU["button"][0], mine, *DEFAULT_MENU["button"][2:]]}


def menu_of(settings: Settings) -> dict[str, Any]:
    wechat = WeChatSettings.of(settings)
    configured = wechat.menu
    if not configured.strip():
        return with_phone_pages(wechat.h5_base_url)
    try:
        menu = msgspec.json.decode(configured)
    except msgspec.DecodeError as exc:
        raise MenuInvalid(f"YIXIANG_WECHAT_MENU is not valid JSON: {exc}") from exc
    if (
        not isinstance(menu, dict)
        or not isinstance(menu.get("button"), list)
        or not 1 <= len(menu["button"]) <= 3
    ):
        raise MenuInvalid('YIXIANG_WECHAT_MENU must be an object with 1-3 entries in "button"')
    return menu
