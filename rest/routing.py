"""The request pipeline: authentication, the `Route` of an endpoint and the `Call` it handles.

`endpoint` turns a `Route` into an aiohttp handler: it validates the query string and body
(nothing is written for a bad input), resolves the actor (`actor_staff_id`, else the integrator
with full rights), loads the booking of a `/bookings/{id}` path and checks the route's permission
(roles are read from the database on every call) before the view runs.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ValidationError

from dispatch.model import Actor, ActorKind, Channel, HistoryAction, Permission
from models import tables as t
from models.access import staff_by_id, staff_may
from models.transactions import Transactions
from models.uow import TortoiseUnitOfWork
from rest import schemas as s
from rest.errors import ApiError, validation_error

#: The integrator calling with the API token and no `actor_staff_id`: full rights.
API_ACTOR = Actor(ActorKind.SYSTEM, None, "api")

#: The name of the one public route (no token needed).
OPENAPI_ROUTE = "openapi"

#: The header of a list's number of matches before paging (`Route.total_count`).
TOTAL_COUNT = "X-Total-Count"


# -- authentication -------------------------------------------------------------------------------


def auth_middleware(token: str | None) -> Middleware:
    """Bearer-token check for every route except the public OpenAPI document."""

    @web.middleware
    async def check_token(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if getattr(request.match_info.route, "name", None) == OPENAPI_ROUTE:
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
        text = self.request.match_info[name]
        # The router matches ASCII digits only; `int()` also reads Arabic-Indic and other digits.
        # More than ten digits is beyond any id (and `int()` refuses past 4,300 digits).
        digits = text.lstrip("0")
        value = int(digits) if text.isascii() and text.isdigit() and len(digits) <= 10 else 0
        if not 1 <= value <= s.MAX_ID:
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
    #: Other success statuses, with the same answer (`PUT /roles/{name}`: 201 when it creates).
    also: tuple[int, ...] = ()
    permission: Permission | None = Permission.VIEW
    query: type[BaseModel] = s.ActorQuery
    public: bool = False
    #: An empty body means `request`'s defaults (a body added to a route that had none).
    body_optional: bool = False
    #: A list whose answer carries the number of matches before paging in `X-Total-Count`.
    total_count: bool = False

    @property
    def booking_scoped(self) -> bool:
        """Paths under `/bookings/{id}` load the booking first (404) and log refusals on it."""
        return self.path.startswith("/bookings/{id}")

    @property
    def tag(self) -> str:
        """The OpenAPI tag: the first path segment."""
        return self.path.split("/")[1].split(".")[0]


#: Each path parameter's pattern for the router and its schema for the OpenAPI document.
PATH_PARAMS: dict[str, tuple[str, dict[str, Any]]] = {
    # `[0-9]`, not `\d`, which matches every Unicode digit: an Arabic-Indic one was booking 1.
    "id": (r"[0-9]+", {"type": "integer", "minimum": 1}),
    "name": (r"[A-Za-z0-9_-]{1,64}", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
    # Any name reaches the view, which answers an unknown event or channel naming the known ones.
    "event": (r"[A-Za-z0-9_-]{1,64}", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
    "channel": (r"[A-Za-z0-9_-]{1,64}", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
}


def router_path(path: str) -> str:
    """A route's path for aiohttp's router: each `{param}` with the pattern it must match."""
    return re.sub(r"\{(\w+)\}", lambda m: f"{{{m[1]}:{PATH_PARAMS[m[1]][0]}}}", path)


def no_constants(name: str) -> float:
    """Refuse NaN and Infinity, which JSON does not have (json.loads `parse_constant`)."""
    raise ValueError(f"{name} is not valid JSON")


#: How deeply a JSON body may nest: the deepest real one (a MultiPolygon in a fieldworker) is 7.
MAX_JSON_DEPTH = 64
#: A JSON string (to skip: brackets inside it are text) or a bracket.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(raw: bytes) -> int:
    """How deeply the JSON text nests (arrays and objects), counted without parsing it.

    Python's `json` recurses once per level and raises `RecursionError` near 1,000 levels, which
    no `except ValueError` catches; a body is measured before it is parsed.
    """
    depth = deepest = 0
    for token in _JSON_TOKEN.finditer(raw):
        bracket = token[0]
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif bracket in (b"]", b"}"):
            depth -= 1
    return deepest


def loads_bounded(raw: bytes) -> Any:
    """Parse a JSON body: ValueError when it is not JSON or nests deeper than MAX_JSON_DEPTH."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw, parse_constant=no_constants)
    except RecursionError:  # cannot happen after the depth check; never a 500 if it does
        raise ValueError("nested too deeply") from None


async def _read_body(
    request: web.Request, model: type[BaseModel], optional: bool = False
) -> BaseModel:
    raw = await request.read()
    if optional and not raw.strip():
        return model.model_validate({})
    try:
        data = loads_bounded(raw) if raw.strip() else None
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


def endpoint(ctx: ApiContext, route: Route) -> Callable[[web.Request], Awaitable[Any]]:
    """The aiohttp handler of `route`: validate, resolve the actor, check, then call the view."""

    async def handle(request: web.Request) -> web.StreamResponse:
        query = _read_query(request, route.query)
        body = (
            await _read_body(request, route.request, route.body_optional) if route.request else None
        )
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


def model_response(model: type[BaseModel], data: Any, status: int = 200) -> web.Response:
    """`data` as the JSON of `model` (validated, so an answer never strays from the document)."""
    return web.json_response(model.model_validate(data).model_dump(mode="json"), status=status)


def model_list_response(
    model: type[BaseModel], items: Sequence[Any], total: int | None = None
) -> web.Response:
    """`items` as a JSON array of `model`; `total` (all matches, before paging) as a header."""
    headers = {TOTAL_COUNT: str(total)} if total is not None else None
    return web.json_response(
        [model.model_validate(i).model_dump(mode="json") for i in items], headers=headers
    )
