"""Tables of the bot: followers of the official account, sent notifications, phone numbers."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yixiang.db import Base, utcnow
from yixiang.outbox import BigId


class Follower(Base):
    """A WeChat user who follows (or followed) the official account, and the platform user behind it.

    ``openid`` is the official account's openid; the mini-program's openid differs and lives on
    ``User.wechat_openid``. The two meet through the unionid when both apps share an
    open-platform account, otherwise through a one-time bind code.
    """

    __tablename__ = "bot_followers"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    # One follower per platform user: binding another WeChat account moves the link.
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), unique=True
    )
    subscribed: Mapped[bool] = mapped_column(default=True)
    subscribed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    bound_at: Mapped[datetime | None]
    bound_by: Mapped[str | None] = mapped_column(String(16))  # unionid | bind_code
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SendStatus(enum.StrEnum):
    """Where a notification's one WeChat call stands (WeChat takes no idempotency key)."""

    sending = "sending"  # committed before the call: a row left here means the worker died in it
    sent = "sent"  # WeChat said ok
    failed = "failed"  # WeChat answered an error that a retry may fix: the worker sends again
    undeliverable = "undeliverable"  # WeChat answered that no retry can help (unfollowed...)
    uncertain = "uncertain"  # the call may or may not have arrived: never sent again


class SentNotification(Base):
    """One row per (outbox event, channel): a notification consumer running twice sends once.

    ``status`` is committed as "sending" before WeChat is called and "sent" after (bot/notify.py).
    """

    __tablename__ = "bot_sent_notifications"

    event_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)  # template | subscribe | custom
    status: Mapped[str] = mapped_column(
        String(16), default=SendStatus.sent, server_default="sent", index=True
    )
    topic: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    template_id: Mapped[str] = mapped_column(String(100), default="")
    # WeChat's message id when it returns one (template messages do), for support questions.
    wechat_msgid: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)  # when the call was (last) started


class UserPhone(Base):
    """A user's phone number from WeChat's phone-number API: personal information (PIPL).

    Stored encrypted (Fernet, key derived from the secret key); only the masked form is shown
    or logged.
    """

    __tablename__ = "bot_user_phones"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    phone_encrypted: Mapped[str] = mapped_column(Text)
    phone_masked: Mapped[str] = mapped_column(String(20))
    country_code: Mapped[str] = mapped_column(String(8), default="86")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LocalMessage(Base):
    """A notification kept on this machine instead of sent to WeChat (``bot/local_outbox.py``):
    what the researcher would have read, for a person to look at with ``yixiang bot outbox``."""

    __tablename__ = "bot_local_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    channel: Mapped[str] = mapped_column(String(16))  # template | subscribe | custom
    topic: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str] = mapped_column(String(64))  # the openid the message was for
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    template_id: Mapped[str] = mapped_column(String(100), default="")
    text: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(500), default="")


class HumanRequest(Base):
    """人工 / 客服 / 投诉 asked in the chat: kept for the people who answer (the service desk, the
    instrument's provider), with what was said and what the conversation was about."""

    __tablename__ = "bot_human_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    instrument_id: Mapped[uuid.UUID | None]  # the instrument or booking's instrument being discussed
    booking_id: Mapped[uuid.UUID | None]
    text: Mapped[str] = mapped_column(Text)
    referred_to: Mapped[str] = mapped_column(String(16))  # provider | desk
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
