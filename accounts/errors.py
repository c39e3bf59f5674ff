"""What goes wrong in accounts, as the client sees it (codes are stable)."""

from __future__ import annotations

from yixiang.errors import Conflict, InvalidInput


class AlreadyMember(Conflict):
    code = "already_member"
    message = "该用户已是本单位成员"


class RoleNotAllowed(InvalidInput):
    code = "role_not_allowed"
    message = "该角色不适用于此类单位"
