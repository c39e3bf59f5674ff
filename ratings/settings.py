"""The ratings' settings."""

from __future__ import annotations

from typing import Annotated

import msgspec

from yixiang.settings import Section


class RatingsSettings(Section):
    env_prefix = "RATING_"

    # How long after delivery a booking can be rated.
    window_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30


SECTIONS = (RatingsSettings,)
