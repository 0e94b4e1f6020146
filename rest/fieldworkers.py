"""Views of `/fieldworkers`: fieldworkers, and re-dispatching one's jobs (off sick).

`fieldworker_columns` and `check_services_exist` are also used by the bulk importer, so an
imported row is checked and stored exactly like an API body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from aiohttp import web

from dispatch import assignment, linking
from dispatch.model import Channel
from models import tables as t
from models.uow import TortoiseUnitOfWork
from rest import schemas as s
from rest.errors import ApiError
from rest.routing import Call, model_list_response, model_response


def _fieldworker_out(fw: t.Fieldworker) -> dict[str, Any]:
    location = (
        {"lat": fw.base_lat, "lon": fw.base_lon}
        if fw.base_lat is not None and fw.base_lon is not None
        else None
    )
    return {
        "id": fw.id,
        "name": fw.name,
        "phone": fw.phone,
        "email": fw.email,
        "telegram_user_id": fw.telegram_user_id,
        "channels": fw.channels or [],
        "services": fw.services or [],
        "skills": fw.skills or [],
        "custom_fields": fw.custom_fields or {},
        "base_location": location,
        "territories": fw.territories,
        "working_hours": fw.working_hours,
        "time_off": fw.time_off or [],
        "status": fw.status,
        "timezone": fw.timezone,
        "invite_code": fw.invite_code,
        "invite_code_used": fw.invite_code_used_at is not None,
        "telegram_linked": fw.telegram_chat_id is not None,
    }


def fieldworker_columns(values: Mapping[str, Any], company_timezone: str) -> dict[str, Any]:
    """API fields (validated) -> table columns."""
    columns: dict[str, Any] = {}
    for key, value in values.items():
        if key == "base_location":
            columns["base_lat"] = value.lat if value is not None else None
            columns["base_lon"] = value.lon if value is not None else None
        elif key == "territories":
            columns[key] = value.model_dump(mode="json") if value is not None else None
        elif key == "time_off":
            columns[key] = [{"start": o.start.isoformat(), "end": o.end.isoformat()} for o in value]
        elif key == "working_hours":
            columns[key] = (
                {day: [list(shift) for shift in shifts] for day, shifts in value.items()}
                if value is not None
                else None
            )
        elif key == "timezone":
            columns[key] = value or company_timezone
        elif key == "status":
            columns[key] = value.value
        else:
            columns[key] = value
    return columns


async def _fieldworker_or_404(fieldworker_id: int) -> t.Fieldworker:
    fw = await t.Fieldworker.get_or_none(id=fieldworker_id)
    if fw is None:
        raise ApiError(404, "fieldworker_not_found", f"fieldworker {fieldworker_id} does not exist")
    return fw


async def check_services_exist(codes: Sequence[str], field: str = "services") -> None:
    """422 `unknown_service` naming the first code no service has."""
    known = set(
        cast(
            "list[str]", await t.Service.filter(code__in=list(codes)).values_list("code", flat=True)
        )
    )
    for i, code in enumerate(codes):
        if code not in known:
            raise ApiError(422, "unknown_service", f"no service with code {code!r}", f"{field}.{i}")


async def create_fieldworker(call: Call) -> web.StreamResponse:
    """Add a fieldworker; their `telegram_user_id` reaches them at once, `invite_code` links."""
    body: s.FieldworkerIn = call.body
    values = {k: getattr(body, k) for k in s.FieldworkerIn.model_fields}
    columns = fieldworker_columns(values, call.ctx.timezone)

    async def work(uow: TortoiseUnitOfWork) -> t.Fieldworker:
        await check_services_exist(body.services)
        await linking.check_identifiers_free(
            uow, None, phone=columns.get("phone"), telegram_user_id=columns.get("telegram_user_id")
        )
        return await t.Fieldworker.create(**columns, invite_code=await linking.new_invite_code(uow))

    return model_response(s.FieldworkerOut, _fieldworker_out(await call.ctx.tx.run(work)), 201)


async def list_fieldworkers(call: Call) -> web.StreamResponse:
    """Fieldworkers by id."""
    q: s.PageQuery = call.query
    rows = await t.Fieldworker.all().order_by("id").offset(q.offset).limit(q.limit)
    return model_list_response(s.FieldworkerOut, [_fieldworker_out(r) for r in rows])


async def get_fieldworker(call: Call) -> web.StreamResponse:
    """One fieldworker."""
    return model_response(
        s.FieldworkerOut, _fieldworker_out(await _fieldworker_or_404(call.path_id()))
    )


async def patch_fieldworker(call: Call) -> web.StreamResponse:
    """Change a fieldworker; a new `telegram_user_id` unlinks the old Telegram chat."""
    fieldworker_id = call.path_id()
    changes = call.changes()
    columns = fieldworker_columns(changes, call.ctx.timezone)

    async def work(uow: TortoiseUnitOfWork) -> t.Fieldworker:
        fw = await _fieldworker_or_404(fieldworker_id)
        if "services" in changes:
            await check_services_exist(changes["services"])
        await linking.check_identifiers_free(
            uow,
            fieldworker_id,
            phone=columns.get("phone"),
            telegram_user_id=columns.get("telegram_user_id"),
        )
        if "telegram_user_id" in columns and not linking.edit_keeps_chat(
            fw.telegram_user_id, columns["telegram_user_id"]
        ):
            fw.telegram_chat_id = None
            fw.telegram_username = None
        for key, value in columns.items():
            setattr(fw, key, value)
        await fw.save()
        return fw

    return model_response(s.FieldworkerOut, _fieldworker_out(await call.ctx.tx.run(work)))


async def regenerate_invite_code(call: Call) -> web.StreamResponse:
    """Issue a fresh invite code (the old one links nobody any more); the Telegram link stays."""
    fieldworker_id = call.path_id()

    async def work(uow: TortoiseUnitOfWork) -> t.Fieldworker:
        await linking.regenerate_invite_code(uow, fieldworker_id)
        return await _fieldworker_or_404(fieldworker_id)

    return model_response(s.FieldworkerOut, _fieldworker_out(await call.ctx.tx.run(work)))


async def reassign_fieldworker(call: Call) -> web.StreamResponse:
    """A worker off sick: `dispatch.assignment.unassign_range` over [from, to)."""
    body: s.ReassignIn = call.body
    fieldworker_id = call.path_id()
    await _fieldworker_or_404(fieldworker_id)
    done = await assignment.unassign_range(
        call.ctx.tx,
        fieldworker_id,
        body.from_,
        body.to,
        call.actor,
        Channel.API,
        reason=body.reason,
    )
    results = [
        {"job_id": r.job_id, "reassigned": r.sent is not None, "sent": r.sent or []} for r in done
    ]
    return model_response(s.ReassignOut, {"results": results})
