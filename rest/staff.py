"""Views of `/staff` and `/roles`: staff members and the roles that give them permissions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from dispatch import access
from models import tables as t
from models.access import save_role
from models.uow import TortoiseUnitOfWork
from rest import schemas as s
from rest.errors import ApiError
from rest.routing import Call, model_list_response, model_response


def _staff_out(row: t.Staff) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "telegram_user_id": row.telegram_user_id,
        "telegram_username": row.telegram_username,
        "phone": row.phone,
        "role": row.role,
    }


async def _check_staff(columns: Mapping[str, Any], exclude_id: int | None) -> None:
    role = columns.get("role")
    if role is not None and not await t.Role.exists(name=role):
        raise ApiError(422, "unknown_role", f"no role named {role!r}", "role")
    telegram_user_id = columns.get("telegram_user_id")
    if telegram_user_id is not None:
        query = t.Staff.filter(telegram_user_id=telegram_user_id)
        if exclude_id is not None:
            query = query.exclude(id=exclude_id)
        if await query.exists():
            raise ApiError(
                409,
                "duplicate",
                f"another staff member already has telegram_user_id {telegram_user_id}",
                "telegram_user_id",
            )


async def create_staff(call: Call) -> web.StreamResponse:
    """Add a staff member with an existing role."""
    columns = call.changes()

    async def work(_uow: TortoiseUnitOfWork) -> t.Staff:
        await _check_staff(columns, None)
        return await t.Staff.create(**columns)

    return model_response(s.StaffOut, _staff_out(await call.ctx.tx.run(work)), 201)


async def list_staff(call: Call) -> web.StreamResponse:
    """Staff by id."""
    q: s.PageQuery = call.query
    rows = await t.Staff.all().order_by("id").offset(q.offset).limit(q.limit)
    return model_list_response(s.StaffOut, [_staff_out(r) for r in rows])


async def _staff_or_404(staff_id: int) -> t.Staff:
    row = await t.Staff.get_or_none(id=staff_id)
    if row is None:
        raise ApiError(404, "staff_not_found", f"staff member {staff_id} does not exist")
    return row


async def get_staff(call: Call) -> web.StreamResponse:
    """One staff member."""
    return model_response(s.StaffOut, _staff_out(await _staff_or_404(call.path_id())))


async def patch_staff(call: Call) -> web.StreamResponse:
    """Change a staff member (a new role applies from their next call)."""
    staff_id = call.path_id()
    columns = call.changes()

    async def work(_uow: TortoiseUnitOfWork) -> t.Staff:
        row = await _staff_or_404(staff_id)
        await _check_staff(columns, staff_id)
        for key, value in columns.items():
            setattr(row, key, value)
        await row.save()
        return row

    return model_response(s.StaffOut, _staff_out(await call.ctx.tx.run(work)))


def _role_out(row: t.Role) -> dict[str, Any]:
    role = access.role_from_stored(row.name, row.permissions, row.receives_alerts)
    return {
        "name": row.name,
        "permissions": [p.value for p in access.in_order(role.permissions)],
        "receives_alerts": row.receives_alerts,
    }


async def list_roles(_call: Call) -> web.StreamResponse:
    """Every role by name."""
    return model_list_response(
        s.RoleOut, [_role_out(r) for r in await t.Role.all().order_by("name")]
    )


async def get_role(call: Call) -> web.StreamResponse:
    """One role."""
    name = call.request.match_info["name"]
    row = await t.Role.get_or_none(name=name)
    if row is None:
        raise ApiError(404, "role_not_found", f"no role named {name!r}")
    return model_response(s.RoleOut, _role_out(row))


async def put_role(call: Call) -> web.StreamResponse:
    """Create or replace a role. `owner` keeps every permission (409 on a reduction)."""
    name = call.request.match_info["name"]
    body: s.RoleIn = call.body
    access.check_new_permissions(name, body.permissions)

    async def work(_uow: TortoiseUnitOfWork) -> tuple[t.Role, bool]:
        return await save_role(name, body.permissions, body.receives_alerts)

    row, created = await call.ctx.tx.run(work)
    return model_response(s.RoleOut, _role_out(row), 201 if created else 200)
