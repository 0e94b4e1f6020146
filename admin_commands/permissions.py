"""Who may run which admin command.

Nothing is cached: the staff row and the role row are read on every command and every button press,
so a role change (or a staff member moved to another role) applies to the next command in every
process. The role `owner` has every permission, whatever its row says (CONTRACT §4 `/roles`).
"""

from __future__ import annotations

from dispatch.model import Permission
from models import tables as t

OWNER_ROLE = "owner"


async def staff_for(user_id: int) -> t.Staff | None:
    """The staff member linked to a Telegram user id, or None."""
    return await t.Staff.get_or_none(telegram_user_id=user_id)


async def permissions_of(staff: t.Staff) -> frozenset[Permission]:
    """Every permission the staff member's role grants now (unknown names are ignored)."""
    if staff.role == OWNER_ROLE:
        return frozenset(Permission)
    role = await t.Role.get_or_none(name=staff.role)
    if role is None or not isinstance(role.permissions, list):
        return frozenset()
    known = {p.value for p in Permission}
    return frozenset(Permission(p) for p in role.permissions if isinstance(p, str) and p in known)


async def has_permission(staff: t.Staff, permission: Permission) -> bool:
    """True when the staff member's role allows `permission` (read fresh; owner has all)."""
    return permission in await permissions_of(staff)
