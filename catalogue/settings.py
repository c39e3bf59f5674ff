"""The catalogue's settings."""

from __future__ import annotations

from typing import Annotated

import msgspec

from yixiang.settings import Section


class CatalogueSettings(Section):
    # Instruments bought with public money at or above this value must be listed (入网) within
    # 30 working days of acceptance (seed 000; the regional thresholds are 5, 10, 30 or 50 万元).
    listing_value_threshold_fen: Annotated[int, msgspec.Meta(ge=0)] = 50_000_000


SECTIONS = (CatalogueSettings,)
