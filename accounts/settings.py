"""Accounts' settings: token lifetimes and the embedded demo sign-in."""

from __future__ import annotations

from typing import Annotated

import msgspec

from yixiang.settings import Section, Settings, env_name


class AccountsSettings(Section):
    access_token_minutes: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)] = 15
    refresh_token_days: Annotated[int, msgspec.Meta(ge=1, le=90)] = 14
    # The demo sign-in by username alone: on in the embedded profile unless set.
    dev_login: bool | None = None

    @property
    def dev_login_enabled(self) -> bool:
        return bool(self.dev_login)

    def resolve(self, settings: Settings) -> None:
        if self.dev_login is None:
            self.dev_login = settings.is_embedded

    def problems(self, settings: Settings) -> list[str]:
        if settings.profile == "production" and self.dev_login:
            return [f"{env_name('dev_login')} cannot be enabled in production"]
        return []

    def describe(self) -> dict[str, str]:
        return {"dev sign-in": "on" if self.dev_login_enabled else "off"}


SECTIONS = (AccountsSettings,)
