"""Tables of the booking domain. The catalogue lives in ``booking.catalogue.models``."""

from __future__ import annotations

from booking.catalogue.models import (  # noqa: F401  (registered with the metadata)
    Category,
    Instrument,
    ServiceItem,
)
from booking.workdays import WorkingDayOverride  # noqa: F401
