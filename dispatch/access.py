"""Roles and permissions, and who receives staff alerts: the only place that knows.

Pure functions over plain values: the role rows are read and written in `models.access`, and every
adapter (REST, admin commands, the outbox, start-up) asks here what a role allows. The rules
(README "Staff in control", CONTRACT §4 `/roles` and §5):

- every installation has the roles `owner`, `dispatcher` and `viewer` (`DEFAULT_ROLES`);
- `owner` always has every permission, whatever its row says, and cannot be reduced;
- any other role allows exactly the permissions stored for it (names this version does not know
  are ignored, a role with no row allows nothing);
- staff alerts go to every owner, and to roles that allow `assign` and have `receives_alerts` on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dispatch.errors import Conflict
from dispatch.model import Permission

OWNER = "owner"
ALL_PERMISSIONS: frozenset[Permission] = frozenset(Permission)


@dataclass(frozen=True)
class Role:
    """A role as it applies: the permissions it grants now, and whether it asked for alerts."""

    name: str
    permissions: frozenset[Permission]
    receives_alerts: bool = False

    def allows(self, permission: Permission) -> bool:
        """True when a staff member with this role may do what `permission` covers."""
        return permission in self.permissions


#: Roles every installation has, as they are first created (staff may change all but `owner`).
DEFAULT_ROLES: tuple[Role, ...] = (
    Role(OWNER, ALL_PERMISSIONS, receives_alerts=True),
    Role(
        "dispatcher",
        frozenset(
            {
                Permission.RESPOND_ON_BEHALF,
                Permission.ASSIGN,
                Permission.SEND_REQUESTS,
                Permission.VIEW,
            }
        ),
        receives_alerts=True,
    ),
    Role("viewer", frozenset({Permission.VIEW}), receives_alerts=False),
)


def pinned_permissions(role_name: str) -> frozenset[Permission] | None:
    """The permissions a role has whatever is stored for it (`owner`: all), else None."""
    return ALL_PERMISSIONS if role_name == OWNER else None


def known_permissions(stored: object) -> frozenset[Permission]:
    """The permissions named in a stored list; other values and unknown names are ignored."""
    if not isinstance(stored, list | tuple | set | frozenset):
        return frozenset()
    known = {p.value for p in Permission}
    return frozenset(Permission(p) for p in stored if isinstance(p, str) and p in known)


def role_from_stored(name: str, stored: object = None, receives_alerts: bool = False) -> Role:
    """What a role grants, from its stored permissions (None when the role has no row)."""
    pinned = pinned_permissions(name)
    permissions = known_permissions(stored) if pinned is None else pinned
    return Role(name, permissions, receives_alerts)


def in_order(permissions: Iterable[Permission]) -> list[Permission]:
    """Permissions in their one documented order (answers and stored rows look alike)."""
    wanted = set(permissions)
    return [p for p in Permission if p in wanted]


def check_new_permissions(role_name: str, permissions: Iterable[Permission]) -> None:
    """Refuse (Conflict) to store permissions that differ from a role's pinned ones."""
    pinned = pinned_permissions(role_name)
    if pinned is not None and set(permissions) != pinned:
        raise Conflict(
            "owner_has_all_permissions",
            "the owner role always has every permission and cannot be reduced",
            "permissions",
        )


def receives_alerts(role: Role) -> bool:
    """True when staff with this role get staff alerts: owners, and alerting roles that assign."""
    return role.name == OWNER or (role.receives_alerts and role.allows(Permission.ASSIGN))


def alerted_roles(roles: Iterable[Role]) -> frozenset[str]:
    """The names of the roles whose staff get alerts (`owner` even without a row)."""
    return frozenset(r.name for r in roles if receives_alerts(r)) | {OWNER}
