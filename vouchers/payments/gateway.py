"""The WeChat Pay merchant as the service sees it: which units it collects for, and the client.

服务商模式: the platform's service-provider merchant places each order for the holding unit's
sub-merchant (``sub_mchid``), so the money goes to the unit, never through the platform. 直连:
where one unit runs the merchant itself (``direct_units``), orders go to it without a
sub-merchant. A unit that is neither is paid by corporate transfer, as before.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from vouchers.settings import WeChatPaySettings
from vouchers.wechatpay.client import WeChatPayClient, load_merchant_keys
from yixiang.registry import ServiceKey


@dataclass
class WeChatPay:
    settings: WeChatPaySettings
    client: WeChatPayClient

    def sub_mchid(self, unit_id: uuid.UUID) -> str | None:
        """The unit's sub-merchant ("" when the unit is the merchant itself), or None when the
        unit does not take WeChat Pay."""
        if str(unit_id) in self.settings.direct_units:
            return ""
        return self.settings.sub_mchids.get(str(unit_id))

    @classmethod
    def from_settings(cls, settings: WeChatPaySettings) -> WeChatPay:
        return cls(settings, WeChatPayClient(load_merchant_keys(settings), settings.base_url))


WECHAT_PAY = ServiceKey[WeChatPay]("wechatpay")
