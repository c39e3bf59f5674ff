"""WeChat Pay settings: off unless configured; production refuses an incomplete or placeholder
merchant, and keys come from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.wechatpay import new_rsa_key, pem_private, pem_public
from tests.test_settings import PRODUCTION
from vouchers.settings import WeChatPaySettings
from vouchers.wechatpay.client import load_merchant_keys
from vouchers.wechatpay.signing import rsa_sign, rsa_verify
from yixiang.settings import SettingsError, load_settings


@pytest.fixture
def key_files(tmp_path: Path) -> dict[str, str]:
    merchant, platform = new_rsa_key(), new_rsa_key()
    (tmp_path / "merchant.pem").write_bytes(pem_private(merchant))
    (tmp_path / "platform.pem").write_bytes(pem_public(platform.public_key()))
    (tmp_path / "apiv3.key").write_text("a7Kq2mZ9xR4tW8bN3vC6yH1jL5pD0sFg\n")
    return {
        "YIXIANG_WECHATPAY_ENABLED": "true",
        "YIXIANG_WECHATPAY_MCHID": "1612345678",
        "YIXIANG_WECHATPAY_APPID": "wx8a3f5c7e9b1d2f40",
        "YIXIANG_WECHATPAY_MERCHANT_SERIAL_NO": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "YIXIANG_WECHATPAY_PRIVATE_KEY_FILE": str(tmp_path / "merchant.pem"),
        "YIXIANG_WECHATPAY_APIV3_KEY_FILE": str(tmp_path / "apiv3.key"),
        "YIXIANG_WECHATPAY_PLATFORM_PUBLIC_KEY_FILE": str(tmp_path / "platform.pem"),
        "YIXIANG_WECHATPAY_PLATFORM_PUBLIC_KEY_ID": "PUB_KEY_ID_0116123456782026120100318200000452",
        "YIXIANG_WECHATPAY_NOTIFY_URL": "https://yixiang.example.gov.cn/api/v1/payments/wechat/notify",
        "YIXIANG_WECHATPAY_SUB_MCHIDS": '{"6f1c0000-0000-0000-0000-000000000001": "1900000201"}',
    }


def test_wechat_pay_is_off_by_default_and_production_starts_without_it() -> None:
    assert not WeChatPaySettings.of(load_settings(PRODUCTION)).enabled


def test_production_with_a_complete_merchant_starts_and_its_keys_load(key_files: dict[str, str]) -> None:
    pay = WeChatPaySettings.of(load_settings(PRODUCTION | key_files))
    keys = load_merchant_keys(pay)
    assert keys.mchid == "1612345678" and len(keys.apiv3_key) == 32
    assert rsa_verify(keys.private_key.public_key(), "x", rsa_sign(keys.private_key, "x"))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"YIXIANG_WECHATPAY_MCHID": ""}, "YIXIANG_WECHATPAY_MCHID is required"),
        ({"YIXIANG_WECHATPAY_MCHID": "1111111111"}, "YIXIANG_WECHATPAY_MCHID is a placeholder"),
        ({"YIXIANG_WECHATPAY_APPID": "wx0000000000000000"}, "YIXIANG_WECHATPAY_APPID is a placeholder"),
        ({"YIXIANG_WECHATPAY_PRIVATE_KEY_FILE": "/nonexistent/merchant.pem"}, "is not a readable file"),
        ({"YIXIANG_WECHATPAY_NOTIFY_URL": "http://10.0.0.5/notify"}, "must be an https address"),
        ({"YIXIANG_WECHATPAY_SUB_MCHIDS": '{"u": "abc"}'}, "is not a merchant id"),
        (
            {"YIXIANG_WECHATPAY_DIRECT_UNITS": "6f1c0000-0000-0000-0000-000000000001"},
            "is also a sub-merchant",
        ),
    ],
)
def test_production_refuses_an_incomplete_or_placeholder_merchant(
    key_files: dict[str, str], change: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(PRODUCTION | key_files | change)


def test_production_refuses_an_apiv3_key_that_is_not_32_characters_or_a_placeholder(
    key_files: dict[str, str],
) -> None:
    key = Path(key_files["YIXIANG_WECHATPAY_APIV3_KEY_FILE"])
    for text in ("short", "0" * 32, "your-apiv3-key-goes-here-0000000"):
        key.write_text(text)
        with pytest.raises(SettingsError, match="32-character APIv3 key"):
            load_settings(PRODUCTION | key_files)
