"""Views of `/services`: the services the company offers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from models import tables as t
from models.uow import TortoiseUnitOfWork
from rest import schemas as s
from rest.errors import ApiError
from rest.routing import Call, model_list_response, model_response


def _service_out(row: t.Service) -> dict[str, Any]:
    return {
        "id": row.id,
        "code": row.code,
        "name": row.name,
        "required_skills": row.required_skills or [],
    }


async def _service_or_404(service_id: int) -> t.Service:
    row = await t.Service.get_or_none(id=service_id)
    if row is None:
        raise ApiError(404, "service_not_found", f"service {service_id} does not exist")
    return row


async def _check_service_code_free(code: str, exclude_id: int | None = None) -> None:
    query = t.Service.filter(code=code)
    if exclude_id is not None:
        query = query.exclude(id=exclude_id)
    if await query.exists():
        raise ApiError(409, "duplicate", f"a service with code {code!r} already exists", "code")


async def create_service(call: Call) -> web.StreamResponse:
    """Add a service (its `code` is unique)."""
    body: s.ServiceIn = call.body

    async def work(_uow: TortoiseUnitOfWork) -> t.Service:
        await _check_service_code_free(body.code)
        return await t.Service.create(
            code=body.code, name=body.name, required_skills=body.required_skills
        )

    return model_response(s.ServiceOut, _service_out(await call.ctx.tx.run(work)), 201)


async def list_services(call: Call) -> web.StreamResponse:
    """Every service, by id."""
    q: s.PageQuery = call.query
    rows = await t.Service.all().order_by("id").offset(q.offset).limit(q.limit)
    return model_list_response(s.ServiceOut, [_service_out(r) for r in rows])


async def get_service(call: Call) -> web.StreamResponse:
    """One service."""
    return model_response(s.ServiceOut, _service_out(await _service_or_404(call.path_id())))


async def patch_service(call: Call) -> web.StreamResponse:
    """Change a service. Its code may change only while no fieldworker or job uses it."""
    service_id = call.path_id()
    changes = call.changes()

    async def work(_uow: TortoiseUnitOfWork) -> t.Service:
        row = await _service_or_404(service_id)
        code = changes.get("code")
        if code is not None and code != row.code:
            await _check_service_code_free(code, service_id)
            in_use = await t.Job.filter(service_code=row.code).exists() or any(
                row.code in (codes or ())
                for codes in await t.Fieldworker.all().values_list("services", flat=True)
            )
            if in_use:
                raise ApiError(
                    409,
                    "service_in_use",
                    f"service {row.code!r} is used by fieldworkers or jobs; its code cannot change",
                    "code",
                )
        for key, value in changes.items():
            setattr(row, key, value)
        await row.save()
        return row

    return model_response(s.ServiceOut, _service_out(await call.ctx.tx.run(work)))
