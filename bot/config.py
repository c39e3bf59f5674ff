"""The bot's view of the settings: demo WeChat credentials for the embedded default.

In the embedded profile an empty WeChat configuration is filled with the demo values below (also
listed in bot/README.md), so the webhook, ``yixiang bot chat`` and the notifications work out of
the box against the local fake. Production never gets them: it must configure its own.
"""

from __future__ import annotations

from yixiang.settings import Settings

DEMO_APP_ID = "wx5f3c9a7e2d1b0a00"
DEMO_APP_SECRET = "yixiang-demo-app-secret-0000000000"
DEMO_TOKEN = "yixiangdemotoken"
DEMO_AES_KEY = "YixiangDemoEncodingAESKey0123456789abcdefgh"  # 43 characters, as WeChat issues them
DEMO_MINIPROGRAM_APP_ID = "wx5f3c9a7e2d1b0a01"
DEMO_MINIPROGRAM_APP_SECRET = "yixiang-demo-miniprogram-secret-00"

# Every notification topic the bot sends; demo template ids are the topic with a prefix.
NOTIFICATION_TOPICS = (
    "booking.requested",
    "booking.confirmed",
    "booking.rejected",
    "booking.reminder",
    "booking.delivered",
    "booking.rating_requested",
    "voucher.captured",
)


def apply_demo_wechat_settings(settings: Settings) -> None:
    """Fill empty WeChat settings with the demo values, in the embedded profile only."""
    if not settings.is_embedded:
        return
    if not settings.wechat_app_id:
        settings.wechat_app_id = DEMO_APP_ID
        settings.wechat_app_secret = settings.wechat_app_secret or DEMO_APP_SECRET
    if not settings.wechat_token:
        settings.wechat_token = DEMO_TOKEN
        settings.wechat_aes_key = settings.wechat_aes_key or DEMO_AES_KEY
    if not settings.wechat_miniprogram_app_id:
        settings.wechat_miniprogram_app_id = DEMO_MINIPROGRAM_APP_ID
        settings.wechat_miniprogram_app_secret = (
            settings.wechat_miniprogram_app_secret or DEMO_MINIPROGRAM_APP_SECRET
        )
    for topic in NOTIFICATION_TOPICS:
        settings.wechat_template_ids.setdefault(topic, "demo-tpl-" + topic)
        settings.wechat_subscribe_template_ids.setdefault(topic, "demo-sub-" + topic)


def miniprogram_credentials(settings: Settings) -> tuple[str, str]:
    return (
        settings.wechat_miniprogram_app_id or settings.wechat_app_id,
        settings.wechat_miniprogram_app_secret or settings.wechat_app_secret,
    )
