"""The REST API under `/api/v1` (CONTRACT §4): an aiohttp sub-application over the dispatch core.

One route table (`ROUTES`) drives both the router and the OpenAPI document; the bodies, query
strings and answers are the pydantic models of `rest.schemas`. Every request goes through:

1. the error middleware: every error is `{"error": {"code", "message", "field"}}`;
2. the auth middleware: `Authorization: Bearer $API_TOKEN` (only `openapi.json` is public);
3. `_endpoint`: query and body validation (nothing is written for a bad input), the actor
   (`actor_staff_id`, else the integrator with full rights), the booking of a `/bookings/{id}`
   path, and the route's permission (roles are read from the database on every call);
4. the handler: every write happens inside one `ctx.tx.run(...)` (one transaction, retried on a
   transient conflict, with the outbox rows of the core's events).

A refused permission on a booking is recorded as a `permission_refused` history row, in its own
transaction, and nothing else changes.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ValidationError
from tortoise.exceptions import IntegrityError

from dispatch import access, assignment, bookings, linking, offering, responding
from dispatch.commands import Action, BookingChanges, Outcome
from dispatch.errors import Conflict, DispatchError, Forbidden, Invalid, NotFound
from dispatch.model import (
    OPEN_JOB_STATUSES,
    Actor,
    ActorKind,
    BookingStatus,
    Channel,
    HistoryAction,
    Interval,
    JobStatus,
    Permission,
    Point,
)
from dispatch.ports import NewBooking
from dispatch.settings import CompanySettings
from models import tables as t
from models.access import save_role, staff_by_id, staff_may
from models.transactions import Transactions
from models.uow import TortoiseUnitOfWork
from models.views import load_settings
from rest import schemas as s

log = logging.getLogger(__name__)

#: The integrator calling with the API token and no `actor_staff_id`: full rights.
API_ACTOR = Actor(ActorKind.SYSTEM, None, "api")

_OPEN_STATUSES = frozenset(s.value for s in OPEN_JOB_STATUSES)
_CLOSED_JOB_STATUSES = frozenset({JobStatus.CANCELLED.value, JobStatus.COMPLETED.value})
#: Respond outcomes that changed nothing because the request or job was no longer answerable.
_FAILED_OUTCOMES = frozenset({Outcome.TAKEN, Outcome.CLOSED, Outcome.JOB_CLOSED, Outcome.NOT_FOUND})
_OPENAPI_ROUTE = "openapi"
_REF = "#/components/schemas/{model}"


# -- errors ---------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer: `status`, a snake_case `code`, a readable `message`, the input `field`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The one error shape of CONTRACT §4."""
    body = {"error": {"code": code, "message": message, "field": field}}
    return web.json_response(body, status=status, headers=headers)


def validation_error(exc: ValidationError, *, prefix: str = "") -> ApiError:
    """422 naming the first invalid field (dotted path) with pydantic's reason."""
    first = exc.errors(include_url=False)[0]
    parts = [str(p) for p in first["loc"] if p != "[key]"]
    field = prefix + ".".join(parts) if parts else (prefix.rstrip(".") or None)
    kind = first["type"]
    if kind in s.CUSTOM_ERROR_CODES:
        code = kind
    elif kind == "extra_forbidden":
        code = "unknown_field"
    elif kind == "missing":
        code = "missing_field"
    elif parts and parts[0] == "territories":
        code = "invalid_geometry"
    else:
        code = "invalid_value"
    if kind == "extra_forbidden":
        message = f"unknown field {field!r}"
    elif kind == "missing":
        message = f"{field!r} is required"
    else:
        message = f"{field}: {first['msg']}" if field else first["msg"]
    return ApiError(422, code, message, field)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


#: How the core's refusals read over HTTP: the only place that knows.
_DISPATCH_STATUS: tuple[tuple[type[DispatchError], int], ...] = (
    (NotFound, 404),
    (Invalid, 422),
    (Forbidden, 403),
    (Conflict, 409),
)


def http_status(exc: DispatchError) -> int:
    """The HTTP status of a refusal by the dispatch core."""
    return next((status for kind, status in _DISPATCH_STATUS if isinstance(exc, kind)), 409)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every failure into the contract's error shape; log the unexpected ones."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)
    except DispatchError as exc:
        return error_response(http_status(exc), exc.code, exc.message, exc.field)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status) or re.sub(r"\W+", "_", exc.reason.lower()).strip("_")
        if exc.status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif exc.status == 405:
            message = f"{request.method} is not allowed on {request.path}"
        else:
            message = exc.reason
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, code, message, None, headers)
    except IntegrityError:
        # A uniqueness race the explicit checks could not see (two writers at once).
        log.info("integrity conflict on %s %s", request.method, request.path, exc_info=True)
        return error_response(409, "duplicate", "conflicts with an existing record")
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error; see the server log")


def auth_middleware(token: str | None) -> Middleware:
    """Bearer-token check for every route except the public OpenAPI document."""

    @web.middleware
    async def check_token(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if getattr(request.match_info.route, "name", None) == _OPENAPI_ROUTE:
            return await handler(request)
        challenge = {"WWW-Authenticate": "Bearer"}
        if not token:
            raise ApiError(
                401, "api_disabled", "the REST API is off: API_TOKEN is not set", None, challenge
            )
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise ApiError(
                401,
                "unauthorized",
                "missing or wrong token: send Authorization: Bearer <API_TOKEN>",
                None,
                challenge,
            )
        return await handler(request)

    return check_token


# -- the request pipeline -------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiContext:
    """What the REST API needs at run time, given by the app factory."""

    tx: Transactions
    timezone: str
    api_token: str | None


@dataclass
class Call:
    """One validated API call, as handlers see it."""

    ctx: ApiContext
    route: Route
    request: web.Request
    query: Any
    body: Any
    actor: Actor
    staff: t.Staff | None = None
    booking: t.Booking | None = None
    checked: set[Permission] = field(default_factory=set)

    def path_id(self, name: str = "id") -> int:
        """An integer path parameter; ids beyond the column range do not exist."""
        value = int(self.request.match_info[name])
        if value > s.MAX_ID:
            raise ApiError(404, "not_found", f"{self.route.path.split('/')[1]} {value} not found")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields a PATCH/PUT body actually sent (validated values), minus the actor."""
        body: BaseModel = self.body
        return {k: getattr(body, k) for k in body.model_fields_set if k != "actor_staff_id"}

    async def require(self, permission: Permission) -> None:
        """403 unless the acting staff member's role has `permission` (the token has all)."""
        if self.staff is None or permission in self.checked:
            return
        if not await staff_may(self.staff, permission):
            await self._refuse(permission)
        self.checked.add(permission)

    async def _refuse(self, permission: Permission) -> None:
        staff = self.staff
        assert staff is not None
        endpoint = f"{self.route.method} /api/v1{self.route.path}"
        if self.booking is not None:
            booking_id = self.booking.id
            details = {"permission": permission.value, "endpoint": endpoint, "role": staff.role}
            on_behalf = self.body.fieldworker_id if isinstance(self.body, s.RespondIn) else None

            async def record(uow: TortoiseUnitOfWork) -> None:
                await uow.add_history(
                    booking_id,
                    HistoryAction.PERMISSION_REFUSED,
                    self.actor,
                    on_behalf_of=on_behalf,
                    channel=Channel.API,
                    details=details,
                )

            await self.ctx.tx.run(record)
        raise ApiError(
            403,
            "forbidden",
            f"{staff.name} (role {staff.role!r}) lacks the permission {permission.value!r} "
            f"needed for {endpoint}",
        )


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    """One endpoint: routing, validation, permission and documentation in one place."""

    method: str
    path: str
    handler: Handler
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    many: bool = False
    status: int = 200
    permission: Permission | None = Permission.VIEW
    query: type[BaseModel] = s.ActorQuery
    public: bool = False

    @property
    def booking_scoped(self) -> bool:
        """Paths under `/bookings/{id}` load the booking first (404) and log refusals on it."""
        return self.path.startswith("/bookings/{id}")

    @property
    def tag(self) -> str:
        """The OpenAPI tag: the first path segment."""
        return self.path.split("/")[1].split(".")[0]


_PATH_PARAMS: dict[str, tuple[str, dict[str, Any]]] = {
    "id": (r"\d+", {"type": "integer", "minimum": 1}),
    "name": (r"[A-Za-z0-9_-]{1,64}", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
}


def _router_path(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: f"{{{m[1]}:{_PATH_PARAMS[m[1]][0]}}}", path)


def no_constants(name: str) -> float:
    """Refuse NaN and Infinity, which JSON does not have (json.loads `parse_constant`)."""
    raise ValueError(f"{name} is not valid JSON")


async def _read_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.read()
    try:
        data = json.loads(raw, parse_constant=no_constants) if raw.strip() else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise validation_error(exc) from None


def _read_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise validation_error(exc) from None


async def resolve_actor(staff_id: int | None) -> tuple[Actor, t.Staff | None]:
    """The staff member named by `actor_staff_id`, or the integrator (API token)."""
    if staff_id is None:
        return API_ACTOR, None
    staff = await staff_by_id(staff_id)
    if staff is None:
        raise ApiError(
            422, "unknown_staff", f"no staff member with id {staff_id}", "actor_staff_id"
        )
    return Actor(ActorKind.STAFF, staff.id, staff.name), staff


def _endpoint(ctx: ApiContext, route: Route) -> Callable[[web.Request], Awaitable[Any]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        query = _read_query(request, route.query)
        body = await _read_body(request, route.request) if route.request else None
        staff_id = getattr(body, "actor_staff_id", None) or getattr(query, "actor_staff_id", None)
        actor, staff = await resolve_actor(staff_id)
        call = Call(ctx, route, request, query, body, actor, staff)
        if route.booking_scoped:
            booking_id = call.path_id()
            call.booking = await t.Booking.get_or_none(id=booking_id)
            if call.booking is None:
                raise ApiError(404, "booking_not_found", f"booking {booking_id} does not exist")
        if route.permission is not None:
            await call.require(route.permission)
        return await route.handler(call)

    handle.__name__ = route.handler.__name__
    return handle


def _json(model: type[BaseModel], data: Any, status: int = 200) -> web.Response:
    return web.json_response(model.model_validate(data).model_dump(mode="json"), status=status)


def _json_list(model: type[BaseModel], items: Sequence[Any]) -> web.Response:
    return web.json_response([model.model_validate(i).model_dump(mode="json") for i in items])


# -- settings -------------------------------------------------------------------------------------


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


async def get_settings(call: Call) -> web.StreamResponse:
    """The company settings (defaults until saved)."""
    return _json(CompanySettings, (await load_settings()).model_dump())


async def put_settings(call: Call) -> web.StreamResponse:
    """Change some settings; keys left out (also inside `customer_notify`) keep their values."""
    changes = call.body.model_dump(mode="json", exclude_unset=True, exclude={"actor_staff_id"})

    async def work(uow: TortoiseUnitOfWork) -> CompanySettings:
        current = await load_settings()
        try:
            new = CompanySettings.model_validate(_merge(current.model_dump(mode="json"), changes))
        except ValidationError as exc:
            raise validation_error(exc) from None
        data = new.model_dump(mode="json")
        if not await t.CompanySettingsRow.filter(id=1).update(data=data):
            await t.CompanySettingsRow.create(id=1, data=data)
        return new

    return _json(CompanySettings, (await call.ctx.tx.run(work)).model_dump())


# -- services -------------------------------------------------------------------------------------


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

    async def work(uow: TortoiseUnitOfWork) -> t.Service:
        await _check_service_code_free(body.code)
        return await t.Service.create(
            code=body.code, name=body.name, required_skills=body.required_skills
        )

    return _json(s.ServiceOut, _service_out(await call.ctx.tx.run(work)), 201)


async def list_services(call: Call) -> web.StreamResponse:
    """Every service, by id."""
    q: s.PageQuery = call.query
    rows = await t.Service.all().order_by("id").offset(q.offset).limit(q.limit)
    return _json_list(s.ServiceOut, [_service_out(r) for r in rows])


async def get_service(call: Call) -> web.StreamResponse:
    """One service."""
    return _json(s.ServiceOut, _service_out(await _service_or_404(call.path_id())))


async def patch_service(call: Call) -> web.StreamResponse:
    """Change a service. Its code may change only while no fieldworker or job uses it."""
    service_id = call.path_id()
    changes = call.changes()

    async def work(uow: TortoiseUnitOfWork) -> t.Service:
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

    return _json(s.ServiceOut, _service_out(await call.ctx.tx.run(work)))


# -- fieldworkers ---------------------------------------------------------------------------------


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
    known = set(await t.Service.filter(code__in=list(codes)).values_list("code", flat=True))
    for i, code in enumerate(codes):
        if code not in known:
            raise ApiError(422, "unknown_service", f"no service with code {code!r}", f"{field}.{i}")


async def create_fieldworker(call: Call) -> web.StreamResponse:
    """Add a fieldworker; the answer carries the `invite_code` for linking Telegram."""
    body: s.FieldworkerIn = call.body
    values = {k: getattr(body, k) for k in s.FieldworkerIn.model_fields}
    columns = fieldworker_columns(values, call.ctx.timezone)

    async def work(uow: TortoiseUnitOfWork) -> t.Fieldworker:
        await check_services_exist(body.services)
        await linking.check_identifiers_free(
            uow, None, phone=columns.get("phone"), telegram_user_id=columns.get("telegram_user_id")
        )
        return await t.Fieldworker.create(**columns, invite_code=await linking.new_invite_code(uow))

    return _json(s.FieldworkerOut, _fieldworker_out(await call.ctx.tx.run(work)), 201)


async def list_fieldworkers(call: Call) -> web.StreamResponse:
    """Fieldworkers by id."""
    q: s.PageQuery = call.query
    rows = await t.Fieldworker.all().order_by("id").offset(q.offset).limit(q.limit)
    return _json_list(s.FieldworkerOut, [_fieldworker_out(r) for r in rows])


async def get_fieldworker(call: Call) -> web.StreamResponse:
    """One fieldworker."""
    return _json(s.FieldworkerOut, _fieldworker_out(await _fieldworker_or_404(call.path_id())))


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

    return _json(s.FieldworkerOut, _fieldworker_out(await call.ctx.tx.run(work)))


# -- staff and roles ------------------------------------------------------------------------------


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

    async def work(uow: TortoiseUnitOfWork) -> t.Staff:
        await _check_staff(columns, None)
        return await t.Staff.create(**columns)

    return _json(s.StaffOut, _staff_out(await call.ctx.tx.run(work)), 201)


async def list_staff(call: Call) -> web.StreamResponse:
    """Staff by id."""
    q: s.PageQuery = call.query
    rows = await t.Staff.all().order_by("id").offset(q.offset).limit(q.limit)
    return _json_list(s.StaffOut, [_staff_out(r) for r in rows])


async def _staff_or_404(staff_id: int) -> t.Staff:
    row = await t.Staff.get_or_none(id=staff_id)
    if row is None:
        raise ApiError(404, "staff_not_found", f"staff member {staff_id} does not exist")
    return row


async def get_staff(call: Call) -> web.StreamResponse:
    """One staff member."""
    return _json(s.StaffOut, _staff_out(await _staff_or_404(call.path_id())))


async def patch_staff(call: Call) -> web.StreamResponse:
    """Change a staff member (a new role applies from their next call)."""
    staff_id = call.path_id()
    columns = call.changes()

    async def work(uow: TortoiseUnitOfWork) -> t.Staff:
        row = await _staff_or_404(staff_id)
        await _check_staff(columns, staff_id)
        for key, value in columns.items():
            setattr(row, key, value)
        await row.save()
        return row

    return _json(s.StaffOut, _staff_out(await call.ctx.tx.run(work)))


def _role_out(row: t.Role) -> dict[str, Any]:
    role = access.role_from_stored(row.name, row.permissions, row.receives_alerts)
    return {
        "name": row.name,
        "permissions": [p.value for p in access.in_order(role.permissions)],
        "receives_alerts": row.receives_alerts,
    }


async def list_roles(call: Call) -> web.StreamResponse:
    """Every role by name."""
    return _json_list(s.RoleOut, [_role_out(r) for r in await t.Role.all().order_by("name")])


async def get_role(call: Call) -> web.StreamResponse:
    """One role."""
    name = call.request.match_info["name"]
    row = await t.Role.get_or_none(name=name)
    if row is None:
        raise ApiError(404, "role_not_found", f"no role named {name!r}")
    return _json(s.RoleOut, _role_out(row))


async def put_role(call: Call) -> web.StreamResponse:
    """Create or replace a role. `owner` keeps every permission (409 on a reduction)."""
    name = call.request.match_info["name"]
    body: s.RoleIn = call.body
    access.check_new_permissions(name, body.permissions)

    async def work(uow: TortoiseUnitOfWork) -> tuple[t.Role, bool]:
        return await save_role(name, body.permissions, body.receives_alerts)

    row, created = await call.ctx.tx.run(work)
    return _json(s.RoleOut, _role_out(row), 201 if created else 200)


# -- bookings -------------------------------------------------------------------------------------


async def bookings_out(bookings: Sequence[t.Booking]) -> list[dict[str, Any]]:
    """The GET shape of bookings, with their customers, jobs and requests (4 queries in all)."""
    if not bookings:
        return []
    ids = [b.id for b in bookings]
    customers = {
        c.id: c for c in await t.Customer.filter(id__in=sorted({b.customer_id for b in bookings}))
    }
    jobs = await t.Job.filter(booking_id__in=ids).select_related("appointment").order_by("id")
    requests: dict[int, list[dict[str, Any]]] = {}
    for r in await t.JobRequest.filter(booking_id__in=ids).order_by("id"):
        requests.setdefault(r.job_id, []).append(
            {
                "id": r.id,
                "fieldworker_id": r.fieldworker_id,
                "status": r.status,
                "reason": r.reason,
                "responded_by": (
                    {"kind": r.responded_by_kind, "id": r.responded_by_id}
                    if r.responded_by_kind
                    else None
                ),
                "responded_at": r.responded_at,
                "channel": r.channel,
            }
        )
    jobs_of: dict[int, list[dict[str, Any]]] = {}
    for j in jobs:
        jobs_of.setdefault(j.booking_id, []).append(
            {
                "id": j.id,
                "appointment": {"start": j.appointment.start, "end": j.appointment.end},
                "service": j.service_code,
                "status": j.status,
                "fieldworker_id": j.fieldworker_id,
                "requests": requests.get(j.id, []),
            }
        )
    out = []
    for b in bookings:
        customer = customers[b.customer_id]
        out.append(
            {
                "id": b.id,
                "status": b.status,
                "dispatch_mode": b.dispatch_mode,
                "customer": {
                    "name": customer.name,
                    "phone": customer.phone,
                    "email": customer.email,
                },
                "address": b.address,
                "location": {"lat": b.lat, "lon": b.lon},
                "notes": b.notes,
                "requirements": {
                    "skills": b.required_skills or [],
                    "custom_fields": b.custom_fields or {},
                },
                "created_at": b.created_at,
                "jobs": jobs_of.get(b.id, []),
            }
        )
    return out


async def _booking_response(booking_id: int, status: int = 200) -> web.Response:
    booking = await t.Booking.get(id=booking_id)
    return _json(s.BookingOut, (await bookings_out([booking]))[0], status)


async def _jobs_of(booking_id: int) -> list[t.Job]:
    return await t.Job.filter(booking_id=booking_id).order_by("id")


async def create_booking(call: Call) -> web.StreamResponse:
    """Create a booking; in `auto` mode eligible fieldworkers are asked at once.

    With `fieldworker_id` every job is assigned to them at creation (the caller also needs the
    `assign` permission).
    """
    body: s.BookingIn = call.body
    if body.fieldworker_id is not None:
        await call.require(Permission.ASSIGN)

    async def work(uow: TortoiseUnitOfWork) -> int:
        mode = body.dispatch_mode or (await uow.settings()).dispatch_mode
        new = NewBooking(
            customer_name=body.customer.name,
            customer_phone=body.customer.phone,
            customer_email=body.customer.email,
            address=body.address,
            location=Point(body.location.lat, body.location.lon),
            services=tuple(body.services),
            appointments=tuple(Interval(a.start, a.end) for a in body.appointments),
            dispatch_mode=mode,
            required_skills=frozenset(body.requirements.skills),
            custom_fields=body.requirements.custom_fields,
            notes=body.notes,
        )
        return await bookings.create_booking(
            uow, new, call.actor, Channel.API, fieldworker_id=body.fieldworker_id
        )

    return await _booking_response(await call.ctx.tx.run(work), 201)


async def list_bookings(call: Call) -> web.StreamResponse:
    """Bookings, newest first, optionally by status."""
    q: s.BookingListQuery = call.query
    query = t.Booking.all()
    if q.status is not None:
        query = query.filter(status=q.status.value)
    rows = await query.order_by("-id").offset(q.offset).limit(q.limit)
    return _json_list(s.BookingOut, await bookings_out(rows))


async def get_booking(call: Call) -> web.StreamResponse:
    """One booking with its jobs and their requests."""
    assert call.booking is not None
    return _json(s.BookingOut, (await bookings_out([call.booking]))[0])


async def patch_booking(call: Call) -> web.StreamResponse:
    """Change the address, location or notes, or cancel (`"status": "cancelled"`).

    Decision: rescheduling (`appointments`) is not available yet and is refused with 422
    `not_supported` ("rescheduling is not available yet"): moving appointments needs the core to
    withdraw and re-send requests and to re-check assignments, which it cannot do yet. Changes to
    a booking that is no longer open are refused with 409 `booking_not_open`; cancelling a
    cancelled booking again changes nothing.
    """
    assert call.booking is not None
    booking_id = call.booking.id
    changes = call.changes()
    if "appointments" in changes:
        raise ApiError(422, "not_supported", "rescheduling is not available yet", "appointments")
    cancel = changes.pop("status", None) == BookingStatus.CANCELLED.value

    location = changes.get("location")
    wanted = BookingChanges(
        address=changes.get("address"),
        notes=changes.get("notes"),
        location=Point(location.lat, location.lon) if location is not None else None,
        cancel=cancel,
    )
    await call.ctx.tx.run(
        lambda uow: bookings.change_booking(uow, booking_id, wanted, call.actor, Channel.API)
    )
    return await _booking_response(booking_id)


async def available_fieldworkers(call: Call) -> web.StreamResponse:
    """Who may take a job and why the others may not (`?job_id=`, else the first open job)."""
    assert call.booking is not None
    q: s.AvailableQuery = call.query
    jobs = await _jobs_of(call.booking.id)
    if q.job_id is not None:
        job = next((j for j in jobs if j.id == q.job_id), None)
        if job is None:
            raise ApiError(
                404, "job_not_found", f"job {q.job_id} is not part of this booking", "job_id"
            )
    else:
        job = next((j for j in jobs if j.status in _OPEN_STATUSES), jobs[0])
    result = await call.ctx.tx.run(lambda uow: offering.eligibility(uow, job.id))
    names: dict[int, str] = dict(await t.Fieldworker.all().values_list("id", "name"))

    def km(value: float | None) -> float | None:
        return round(value, 1) if value is not None else None

    return _json(
        s.AvailableOut,
        {
            "job_id": job.id,
            "eligible": [
                {
                    "fieldworker_id": e.fieldworker_id,
                    "name": names.get(e.fieldworker_id, ""),
                    "distance_km": km(e.distance_km),
                }
                for e in result.eligible
            ],
            "excluded": [
                {
                    "fieldworker_id": e.fieldworker_id,
                    "name": names.get(e.fieldworker_id, ""),
                    "reasons": list(e.reasons),
                    "distance_km": km(e.distance_km),
                }
                for e in result.excluded
            ],
        },
    )


async def send_job_requests(call: Call) -> web.StreamResponse:
    """Ask chosen fieldworkers to take the listed jobs (default: every open job)."""
    assert call.booking is not None
    body: s.JobRequestsIn = call.body
    booking_id = call.booking.id
    result = await call.ctx.tx.run(
        lambda uow: offering.request_jobs(
            uow, booking_id, body.fieldworker_ids, call.actor, Channel.API, job_ids=body.job_ids
        )
    )
    skipped = {str(k): v for k, v in result.skipped.items()}
    return _json(s.SendOut, {"sent": result.sent, "skipped": skipped})


async def assign_booking(call: Call) -> web.StreamResponse:
    """Assign or reassign the listed jobs (default: every job not cancelled or completed)."""
    assert call.booking is not None
    body: s.AssignIn = call.body
    booking_id = call.booking.id

    async def work(uow: TortoiseUnitOfWork) -> list[tuple[int, bool]]:
        return await assignment.assign_booking(
            uow,
            booking_id,
            body.fieldworker_id,
            call.actor,
            Channel.API,
            job_ids=body.job_ids,
            force=body.force,
        )

    results = await call.ctx.tx.run(work)
    return _json(
        s.AssignOut,
        {
            "results": [
                {"job_id": job_id, "fieldworker_id": body.fieldworker_id, "changed": changed}
                for job_id, changed in results
            ]
        },
    )


_OUTCOME_MESSAGES = {
    Outcome.TAKEN: "job {job} already went to another fieldworker",
    Outcome.CLOSED: "request {request} is no longer open ({status})",
    Outcome.JOB_CLOSED: "job {job} is cancelled or completed",
    Outcome.NOT_FOUND: "request {request} does not exist",
}


async def respond_booking(call: Call) -> web.StreamResponse:
    """Accept, decline or pend a fieldworker's requests on their behalf.

    Every listed job must hold a request of that fieldworker. When no request could be answered
    (taken, closed, job closed) the answer is 409 with that outcome as the code and nothing
    changes; otherwise 200 with each request's outcome.
    """
    assert call.booking is not None
    body: s.RespondIn = call.body
    booking_id = call.booking.id

    async def work(uow: TortoiseUnitOfWork) -> list[dict[str, Any]]:
        results = await responding.respond_for_fieldworker(
            uow,
            booking_id,
            body.fieldworker_id,
            Action(body.action),
            call.actor,
            Channel.API,
            job_ids=body.job_ids,
            reason=body.reason,
        )
        if all(r.outcome in _FAILED_OUTCOMES for r in results):
            first = results[0]
            raise ApiError(
                409,
                first.outcome.value,
                _OUTCOME_MESSAGES[first.outcome].format(
                    job=first.job_id,
                    request=first.request_id,
                    status=first.status.value if first.status else "unknown",
                ),
            )
        return [
            {
                "job_id": r.job_id,
                "request_id": r.request_id,
                "outcome": r.outcome.value,
                "status": r.status,
            }
            for r in results
        ]

    return _json(s.RespondOut, {"results": await call.ctx.tx.run(work)})


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
    return _json(s.ReassignOut, {"results": results})


async def rebroadcast_booking(call: Call) -> web.StreamResponse:
    """Ask eligible fieldworkers not yet asked, for every open job."""
    assert call.booking is not None
    booking_id = call.booking.id
    sent = await call.ctx.tx.run(
        lambda uow: offering.rebroadcast(uow, booking_id, call.actor, Channel.API)
    )
    return _json(s.RebroadcastOut, {"sent": sent})


def _history_out(row: t.History) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "actor": {"kind": row.actor_kind, "id": row.actor_id, "name": row.actor_name},
        "action": row.action,
        "on_behalf_of": row.on_behalf_of,
        "from_status": row.from_status,
        "to_status": row.to_status,
        "channel": row.channel,
        "details": row.details or {},
        "job_id": row.job_id,
        "request_id": row.request_id,
    }


async def booking_history(call: Call) -> web.StreamResponse:
    """The booking's history, oldest first."""
    assert call.booking is not None
    rows = await t.History.filter(booking_id=call.booking.id).order_by("id")
    return _json_list(s.HistoryOut, [_history_out(r) for r in rows])


def _notification_out(row: t.Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "booking_id": row.booking_id,
        "channel": row.channel,
        "recipient": row.recipient,
        "template": row.template,
        "body": row.body,
        "status": row.status,
        "attempts": row.attempts,
        "error": row.error,
        "created_at": row.created_at,
    }


async def list_notifications(call: Call) -> web.StreamResponse:
    """Outbox entries, oldest first, optionally of one booking."""
    q: s.NotificationQuery = call.query
    query = t.Notification.all()
    if q.booking_id is not None:
        query = query.filter(booking_id=q.booking_id)
    rows = await query.order_by("id").offset(q.offset).limit(q.limit)
    return _json_list(s.NotificationOut, [_notification_out(r) for r in rows])


# -- OpenAPI --------------------------------------------------------------------------------------


async def get_openapi(call: Call) -> web.StreamResponse:
    """This API's OpenAPI 3.1 document (public)."""
    return web.json_response(openapi_document())


def _schema_ref(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF)
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document, generated from `ROUTES` and the models of `rest.schemas`."""
    components: dict[str, Any] = {}
    error = _schema_ref(s.ErrorResponse, components)
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": _PATH_PARAMS[name][1]}
            for name in re.findall(r"\{(\w+)\}", route.path)
        ]
        parameters += _query_parameters(route.query, components)
        if route.response is None:
            answer: dict[str, Any] = {"type": "object"}
        elif route.many:
            answer = {"type": "array", "items": _schema_ref(route.response, components)}
        else:
            answer = _schema_ref(route.response, components)
        description = (route.handler.__doc__ or route.summary).strip()
        if route.permission is not None:
            description += (
                f"\n\nWith `actor_staff_id`, the staff member's role needs `{route.permission}`."
            )
        operation: dict[str, Any] = {
            "operationId": route.handler.__name__,
            "summary": route.summary,
            "description": description,
            "tags": [route.tag],
            "parameters": parameters,
            "responses": {
                str(route.status): {
                    "description": "OK",
                    "content": {"application/json": {"schema": answer}},
                },
                "4XX": {
                    "description": "Error",
                    "content": {"application/json": {"schema": error}},
                },
                "500": {
                    "description": "Internal error",
                    "content": {"application/json": {"schema": error}},
                },
            },
        }
        if route.request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema_ref(route.request, components)}},
            }
        if route.permission is not None:
            operation["x-permission"] = route.permission.value
        if route.public:
            operation["security"] = []
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Dispatch bot REST API",
            "version": "1",
            "description": (
                "Bookings, fieldworkers and dispatch. Errors are "
                '`{"error": {"code", "message", "field"}}`. Times are ISO 8601 with an offset.'
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


# -- the route table and the app ------------------------------------------------------------------

_SETTINGS = Permission.MANAGE_SETTINGS
_VIEW = Permission.VIEW

ROUTES: tuple[Route, ...] = (
    Route("GET", "/openapi.json", get_openapi, "OpenAPI document", permission=None, public=True),
    Route("GET", "/settings", get_settings, "Company settings", response=CompanySettings),
    Route(
        "PUT",
        "/settings",
        put_settings,
        "Change company settings",
        request=s.SettingsUpdate,
        response=CompanySettings,
        permission=_SETTINGS,
    ),
    Route(
        "POST",
        "/services",
        create_service,
        "Add a service",
        request=s.ServiceIn,
        response=s.ServiceOut,
        status=201,
        permission=_SETTINGS,
    ),
    Route(
        "GET",
        "/services",
        list_services,
        "List services",
        response=s.ServiceOut,
        many=True,
        query=s.PageQuery,
    ),
    Route("GET", "/services/{id}", get_service, "Get a service", response=s.ServiceOut),
    Route(
        "PATCH",
        "/services/{id}",
        patch_service,
        "Change a service",
        request=s.ServicePatch,
        response=s.ServiceOut,
        permission=_SETTINGS,
    ),
    Route(
        "POST",
        "/fieldworkers",
        create_fieldworker,
        "Add a fieldworker",
        request=s.FieldworkerIn,
        response=s.FieldworkerOut,
        status=201,
        permission=_SETTINGS,
    ),
    Route(
        "GET",
        "/fieldworkers",
        list_fieldworkers,
        "List fieldworkers",
        response=s.FieldworkerOut,
        many=True,
        query=s.PageQuery,
    ),
    Route(
        "GET", "/fieldworkers/{id}", get_fieldworker, "Get a fieldworker", response=s.FieldworkerOut
    ),
    Route(
        "PATCH",
        "/fieldworkers/{id}",
        patch_fieldworker,
        "Change a fieldworker",
        request=s.FieldworkerPatch,
        response=s.FieldworkerOut,
        permission=_SETTINGS,
    ),
    Route(
        "POST",
        "/staff",
        create_staff,
        "Add a staff member",
        request=s.StaffIn,
        response=s.StaffOut,
        status=201,
        permission=_SETTINGS,
    ),
    Route(
        "GET",
        "/staff",
        list_staff,
        "List staff",
        response=s.StaffOut,
        many=True,
        query=s.PageQuery,
    ),
    Route("GET", "/staff/{id}", get_staff, "Get a staff member", response=s.StaffOut),
    Route(
        "PATCH",
        "/staff/{id}",
        patch_staff,
        "Change a staff member",
        request=s.StaffPatch,
        response=s.StaffOut,
        permission=_SETTINGS,
    ),
    Route("GET", "/roles", list_roles, "List roles", response=s.RoleOut, many=True),
    Route("GET", "/roles/{name}", get_role, "Get a role", response=s.RoleOut),
    Route(
        "PUT",
        "/roles/{name}",
        put_role,
        "Create or replace a role",
        request=s.RoleIn,
        response=s.RoleOut,
        permission=_SETTINGS,
    ),
    Route(
        "POST",
        "/bookings",
        create_booking,
        "Create a booking",
        request=s.BookingIn,
        response=s.BookingOut,
        status=201,
        permission=Permission.SEND_REQUESTS,
    ),
    Route(
        "GET",
        "/bookings",
        list_bookings,
        "List bookings, newest first",
        response=s.BookingOut,
        many=True,
        query=s.BookingListQuery,
    ),
    Route("GET", "/bookings/{id}", get_booking, "Get a booking", response=s.BookingOut),
    Route(
        "PATCH",
        "/bookings/{id}",
        patch_booking,
        "Change or cancel a booking",
        request=s.BookingPatch,
        response=s.BookingOut,
        permission=Permission.ASSIGN,
    ),
    Route(
        "GET",
        "/bookings/{id}/available-fieldworkers",
        available_fieldworkers,
        "Eligible and excluded fieldworkers for a job",
        response=s.AvailableOut,
        query=s.AvailableQuery,
    ),
    Route(
        "POST",
        "/bookings/{id}/job-requests",
        send_job_requests,
        "Send job requests to chosen fieldworkers",
        request=s.JobRequestsIn,
        response=s.SendOut,
        permission=Permission.SEND_REQUESTS,
    ),
    Route(
        "POST",
        "/bookings/{id}/assign",
        assign_booking,
        "Assign or reassign jobs",
        request=s.AssignIn,
        response=s.AssignOut,
        permission=Permission.ASSIGN,
    ),
    Route(
        "POST",
        "/fieldworkers/{id}/reassign",
        reassign_fieldworker,
        "Re-dispatch a fieldworker's assigned jobs in a time range",
        request=s.ReassignIn,
        response=s.ReassignOut,
        permission=Permission.ASSIGN,
    ),
    Route(
        "POST",
        "/bookings/{id}/respond",
        respond_booking,
        "Respond on a fieldworker's behalf",
        request=s.RespondIn,
        response=s.RespondOut,
        permission=Permission.RESPOND_ON_BEHALF,
    ),
    Route(
        "POST",
        "/bookings/{id}/rebroadcast",
        rebroadcast_booking,
        "Ask eligible fieldworkers not yet asked",
        response=s.RebroadcastOut,
        permission=Permission.SEND_REQUESTS,
    ),
    Route(
        "GET",
        "/bookings/{id}/history",
        booking_history,
        "A booking's history, oldest first",
        response=s.HistoryOut,
        many=True,
    ),
    Route(
        "GET",
        "/notifications",
        list_notifications,
        "Outbox entries",
        response=s.NotificationOut,
        many=True,
        query=s.NotificationQuery,
    ),
)


def create_api(ctx: ApiContext) -> web.Application:
    """The `/api/v1` sub-application (mount with `app.add_subapp("/api/v1", create_api(ctx))`)."""
    app = web.Application(middlewares=[error_middleware, auth_middleware(ctx.api_token)])
    for route in ROUTES:
        app.router.add_route(
            route.method,
            _router_path(route.path),
            _endpoint(ctx, route),
            name=_OPENAPI_ROUTE if route.public else None,
        )
    return app
