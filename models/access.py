"""Roles and staff as stored: the reads and writes behind `dispatch.access`, which decides.

Nothing is cached: the staff row and the role row are read on every command, button press and API
call, so a role change (or a staff member moved to another role) applies to the next one in every
process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dispatch import access
from dispatch.model import Permission
from models import tables as t


def _role(row: t.Role) -> access.Role:
    return access.role_from_stored(row.name, row.permissions, row.receives_alerts)


def _stored(permissions: Iterable[Permission]) -> list[str]:
    return [p.value for p in permissions]


async def staff_by_id(staff_id: int) -> t.Staff | None:
    """The staff member with this id, or None."""
    return await t.Staff.get_or_none(id=staff_id)


async def staff_by_telegram_id(user_id: int) -> t.Staff | None:
    """The staff member linked to a Telegram user id, or None."""
    return await t.Staff.get_or_none(telegram_user_id=user_id)


async def role_named(name: str) -> access.Role:
    """The role as it applies now (a name without a row grants nothing, `owner` everything)."""
    row = await t.Role.get_or_none(name=name)
    return _role(row) if row is not None else access.role_from_stored(name)


async def staff_may(staff: t.Staff, permission: Permission) -> bool:
    """True when the staff member's role allows `permission` now."""
    return (await role_named(staff.role)).allows(permission)


async def save_role(
    name: str, permissions: Sequence[Permission], receives_alerts: bool
) -> tuple[t.Role, bool]:
    """Create or replace a role (the caller checked `access.check_new_permissions`)."""
    stored = _stored(permissions)
    columns = {"permissions": stored, "receives_alerts": receives_alerts}
    row, created = await t.Role.get_or_create(name=name, defaults=columns)
    if not created:
        row.permissions = stored
        row.receives_alerts = receives_alerts
        await row.save()
    return row, created


async def ensure_default_roles() -> None:
    """Create the built-in roles when missing (safe to run often).

    An existing built-in role keeps what staff made of it, except the permissions a role is pinned
    to (`owner`: every one), which are written back.
    """
    for role in access.DEFAULT_ROLES:
        await t.Role.get_or_create(
            name=role.name,
            defaults={
                "permissions": _stored(access.in_order(role.permissions)),
                "receives_alerts": role.receives_alerts,
            },
        )
        pinned = access.pinned_permissions(role.name)
        if pinned is not None:
            await t.Role.filter(name=role.name).update(permissions=_stored(access.in_order(pinned)))


async def bootstrap_owners(user_ids: Iterable[int]) -> None:
    """Every given Telegram user is staff with the role `owner` (created or moved to it)."""
    for user_id in user_ids:
        staff = await t.Staff.get_or_none(telegram_user_id=user_id)
        if staff is None:
            await t.Staff.create(
                name=f"Owner {user_id}", telegram_user_id=user_id, role=access.OWNER
            )
        elif staff.role != access.OWNER:
            await t.Staff.filter(id=staff.id).update(role=access.OWNER)


async def alert_chats() -> list[int]:
    """Telegram ids of the staff who receive staff alerts (`access.alerted_roles`)."""
    roles = [_role(row) for row in await t.Role.all()]
    alerting = access.alerted_roles(roles)
    staff = await t.Staff.filter(role__in=sorted(alerting), telegram_user_id__not_isnull=True)
    return [s.telegram_user_id for s in staff if s.telegram_user_id is not None]
