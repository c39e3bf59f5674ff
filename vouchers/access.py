"""Who may see and do what with vouchers.

A bureau acts only on its own region's programmes (officers of the science and the finance
bureau of the issuing region both may: one issues, the other settles); a firm sees only its own
vouchers; a provider sees the statements of its own unit's bookings. Outsiders get 404.
"""

from __future__ import annotations

import uuid

from accounts.auth import Principal
from accounts.models import Role
from vouchers.errors import BureauRequired, NotFirmMember, ProgramNotFound, StatementNotFound
from vouchers.models import VoucherCheckout, VoucherProgram


def officer_of_region(principal: Principal, region_code: str) -> bool:
    return region_code in principal.regions_where(Role.bureau_officer)


def require_bureau_officer(principal: Principal) -> None:
    if not principal.has_role(Role.bureau_officer):
        raise BureauRequired()


def can_see_program(principal: Principal, program: VoucherProgram) -> bool:
    return principal.is_platform_admin or officer_of_region(principal, program.region_code)


def require_program_visible(principal: Principal, program: VoucherProgram | None) -> VoucherProgram:
    if program is None or not can_see_program(principal, program):
        raise ProgramNotFound()
    return program


def require_program_officer(principal: Principal, program: VoucherProgram | None) -> VoucherProgram:
    """Act on a programme: an officer of its region (others do not learn that it exists)."""
    program = require_program_visible(principal, program)
    if not officer_of_region(principal, program.region_code):
        raise BureauRequired()
    return program


def can_see_checkout(principal: Principal, checkout: VoucherCheckout, program_region: str | None) -> bool:
    return (
        principal.is_platform_admin
        or checkout.enterprise_id in principal.enterprise_ids
        or checkout.unit_id in principal.unit_ids
        or (program_region is not None and officer_of_region(principal, program_region))
    )


def require_checkout_visible(
    principal: Principal, checkout: VoucherCheckout | None, program_region: str | None
) -> VoucherCheckout:
    if checkout is None or not can_see_checkout(principal, checkout, program_region):
        raise StatementNotFound()
    return checkout


def firm_for(principal: Principal, enterprise_id: uuid.UUID | None) -> set[uuid.UUID]:
    """The firms whose vouchers the caller may see (one if asked for, else all of theirs)."""
    mine = principal.enterprise_ids
    if enterprise_id is None:
        return mine
    if enterprise_id not in mine:
        raise NotFirmMember(enterprise_id=str(enterprise_id))
    return {enterprise_id}
