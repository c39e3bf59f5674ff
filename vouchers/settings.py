"""The vouchers domain's settings: WeChat Pay for the part of a bill vouchers do not cover.

WeChat Pay is off unless configured; a booking's remainder is then paid by corporate transfer
(对公转账), which the provider marks received. Keys and certificates are read from files (mounted
secrets), never from the environment's plain values or the repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec

from yixiang.settings import Section, Settings, env_name, looks_like_placeholder

MCHID_DIGITS = range(8, 13)


class WeChatPaySettings(Section):
    env_prefix = "WECHATPAY_"

    enabled: bool = False
    base_url: str = "https://api.mch.weixin.qq.com"
    # The merchant (直连商户) or the service provider (服务商) whose key signs our requests.
    mchid: str = ""
    appid: str = ""  # the official account's or mini-program's app id the payer uses
    merchant_serial_no: str = ""  # of the merchant's API certificate
    private_key_file: str = ""  # the merchant's API private key (PEM)
    apiv3_key_file: str = ""  # the 32-character APIv3 key
    platform_public_key_file: str = ""  # WeChat Pay's public key (PEM), for answers and notifications
    platform_public_key_id: str = ""  # its id, as WeChat Pay names it in Wechatpay-Serial
    # Where WeChat Pay posts notifications: this service's public address + the notify route.
    notify_url: str = ""
    # Holding unit id -> its sub-merchant id (服务商模式); a unit not listed is paid by corporate
    # transfer. In the environment as JSON.
    sub_mchids: dict[str, str] = msgspec.field(default_factory=dict)
    # Holding units that are the merchant themselves (直连商户: the unit runs its own merchant,
    # ``mchid``, and orders are placed without a sub-merchant). Comma-separated in the environment.
    direct_units: list[str] = msgspec.field(default_factory=list)
    order_minutes: Annotated[int, msgspec.Meta(ge=5, le=7 * 24 * 60)] = 120

    def problems(self, settings: Settings) -> list[str]:
        if not self.enabled:
            return []

        def name(field: str) -> str:
            return env_name(self.setting_key(field))

        errors = [
            f"{name(field)} is required when WeChat Pay is enabled"
            for field in (
                "mchid",
                "appid",
                "merchant_serial_no",
                "private_key_file",
                "apiv3_key_file",
                "platform_public_key_file",
                "platform_public_key_id",
                "notify_url",
            )
            if not getattr(self, field)
        ]
        if self.mchid and not (self.mchid.isdigit() and len(self.mchid) in MCHID_DIGITS):
            errors.append(f"{name('mchid')}={self.mchid!r} is not a WeChat Pay merchant id")
        for unit, sub in self.sub_mchids.items():
            if not (sub.isdigit() and len(sub) in MCHID_DIGITS):
                errors.append(f"{name('sub_mchids')}: {sub!r} (unit {unit}) is not a merchant id")
        for unit in set(self.direct_units) & set(self.sub_mchids):
            errors.append(
                f"{name('direct_units')}: unit {unit} is also a sub-merchant in {name('sub_mchids')}"
            )
        for field in ("private_key_file", "apiv3_key_file", "platform_public_key_file"):
            path = getattr(self, field)
            if path and not Path(path).is_file():
                errors.append(f"{name(field)}={path!r} is not a readable file")
        if settings.is_embedded:
            return errors
        for field in ("mchid", "appid", "merchant_serial_no", "platform_public_key_id"):
            value = getattr(self, field)
            if value and looks_like_placeholder(value):
                errors.append(f"{name(field)} is a placeholder or demo value: set the real one")
        key = Path(self.apiv3_key_file) if self.apiv3_key_file else None
        if key is not None and key.is_file():
            text = key.read_text().strip()
            if len(text.encode()) != 32 or looks_like_placeholder(text):
                errors.append(f"{name('apiv3_key_file')} must hold the merchant's 32-character APIv3 key")
        if not self.notify_url.startswith("https://"):
            errors.append(f"{name('notify_url')} must be an https address WeChat Pay can reach")
        return errors

    def describe(self) -> dict[str, str]:
        if not self.enabled:
            return {"WeChat Pay": "off (remainders by corporate transfer)"}
        units = f"{len(self.sub_mchids)} sub-merchant(s), {len(self.direct_units)} direct unit(s)"
        return {"WeChat Pay": f"on, merchant {self.mchid}, {units}"}


SECTIONS = (WeChatPaySettings,)
