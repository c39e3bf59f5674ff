"""Which instruments a bureau oversees: those of its region, districts included — a city's
bureau (330100) oversees 330106, a province's every city and district (GB/T 2260 prefixes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, or_

from accounts.auth import Principal
from accounts.models import Role
from vouchers.rules import region_covers, region_prefix


def oversees_region(principal: Principal, region_code: str) -> bool:
    """Whether the principal is a bureau officer of a region containing ``region_code``."""
    return any(region_covers(area, region_code) for area in principal.regions_where(Role.bureau_officer))


def bureau_region_clause(principal: Principal, column: Any) -> Any:
    """SQL: ``column`` (a region code) lies in one of the principal's bureau regions."""
    areas = principal.regions_where(Role.bureau_officer)
    return or_(*(column.startswith(region_prefix(a)) for a in sorted(areas))) if areas else false()
