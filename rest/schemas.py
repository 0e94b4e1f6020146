"""Request and response bodies of the REST API (CONTRACT §4), validated and documented by pydantic.

These models are the single source for both: `rest.api` validates every body, query string and
answer with them, and the OpenAPI document is generated from them. Request bodies forbid unknown
fields and are validated strictly from JSON (no `"12"` for a number, no `true` for an integer).

Errors raised here with `PydanticCustomError` carry their own type (`invalid_phone`,
`invalid_geometry`, ...); the API uses that type as the error code (see `CUSTOM_ERROR_CODES`).
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic_core import PydanticCustomError
from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.validation import explain_validity

from dispatch.model import (
    ActorKind,
    BookingStatus,
    DispatchMode,
    ExclusionReason,
    FieldworkerStatus,
    JobStatus,
    Permission,
    RequestStatus,
)
from dispatch.settings import CompanySettings

#: Error types raised by the validators below; the API reports them as the error `code`.
CUSTOM_ERROR_CODES = frozenset(
    {
        "invalid_phone",
        "invalid_email",
        "invalid_geometry",
        "invalid_timezone",
        "invalid_time",
        "invalid_shift",
        "timezone_required",
        "end_before_start",
        "duplicate_value",
    }
)

MAX_ID = 2**31 - 1


# -- base classes ---------------------------------------------------------------------------------


class ApiModel(BaseModel):
    """A request body: unknown fields are refused, values are validated strictly from JSON."""

    model_config = ConfigDict(extra="forbid", strict=True)


class OutModel(BaseModel):
    """A response body (also closed: an answer never carries a field the document lacks)."""

    model_config = ConfigDict(extra="forbid")


class QueryModel(BaseModel):
    """Query-string parameters (text, so validated leniently: `?limit=10` is an integer)."""

    model_config = ConfigDict(extra="forbid")


# -- scalar types ---------------------------------------------------------------------------------


def _e164(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise PydanticCustomError(
            "invalid_phone",
            "not a phone number in international format: {value} (E.164, e.g. +14155552671)",
            {"value": value},
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise PydanticCustomError(
            "invalid_phone", "not a valid phone number: {value}", {"value": value}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise PydanticCustomError(
            "invalid_email", "not an email address: {value}", {"value": value}
        )
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "invalid_timezone",
            "not an IANA time zone (e.g. Europe/Lisbon): {value}",
            {"value": value},
        ) from None
    return value


def _iso_datetime(value: Any) -> Any:
    """ISO 8601 text with a UTC offset; a naive time has no single meaning and is refused."""
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_value", "expected an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError(
            "invalid_value",
            "not an ISO 8601 date-time: {value}",
            {"value": value},
        ) from None
    if parsed.utcoffset() is None:
        raise PydanticCustomError(
            "timezone_required",
            "date-time {value} has no UTC offset (write e.g. 2030-06-03T10:00:00+01:00 or ...Z)",
            {"value": value},
        )
    return parsed


def _unique(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value in seen:
            raise PydanticCustomError(
                "duplicate_value", "{value!r} appears more than once", {"value": value}
            )
        seen.append(value)
    return seen


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=5000)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ServiceCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=32),
    AfterValidator(_e164),
    Field(description="E.164 phone number, e.g. +14155552671", examples=["+14155552671"]),
]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254), AfterValidator(_email)
]
TelegramUserId = Annotated[int, Field(ge=1, le=2**63 - 1)]
TimeZoneName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(_timezone),
    Field(description="IANA time zone, e.g. Europe/Lisbon", examples=["Europe/Lisbon"]),
]
IsoDateTime = Annotated[
    AwareDatetime,
    BeforeValidator(_iso_datetime),
    Field(description="ISO 8601 date-time with a UTC offset"),
]
ChannelName = Literal["telegram", "sms", "email"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ShiftStart = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
ShiftEnd = Annotated[str, StringConstraints(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$")]


def _shift(value: tuple[str, str]) -> tuple[str, str]:
    if value[0] == value[1]:
        raise PydanticCustomError(
            "invalid_shift",
            "a shift must end at another time than it starts (00:00-24:00 is a whole day; "
            "an end before the start runs overnight)",
        )
    return value


Shift = Annotated[
    tuple[ShiftStart, ShiftEnd],
    AfterValidator(_shift),
    Field(description='["HH:MM", "HH:MM"]; 24:00 may end a shift; an earlier end runs overnight'),
]
WorkingHours = Annotated[
    dict[Weekday, list[Shift]],
    Field(description="Shifts per weekday in the fieldworker's time zone; null = always"),
]


# -- shared objects -------------------------------------------------------------------------------


class LatLon(ApiModel):
    """A WGS84 position."""

    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]


class TimeSpan(ApiModel):
    """A time span; `end` must be after `start`."""

    start: IsoDateTime
    end: IsoDateTime

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise PydanticCustomError("end_before_start", "end must be after start")
        return end


Position = Annotated[
    list[float], Field(min_length=2, max_length=3, description="[longitude, latitude]")
]


class GeoPolygon(ApiModel):
    """A GeoJSON Polygon: an outer ring then holes, each ring closed, positions [lon, lat]."""

    type: Literal["Polygon"]
    coordinates: list[list[Position]] = Field(min_length=1)


class GeoMultiPolygon(ApiModel):
    """A GeoJSON MultiPolygon."""

    type: Literal["MultiPolygon"]
    coordinates: list[list[list[Position]]] = Field(min_length=1)


def _positions(geometry: GeoPolygon | GeoMultiPolygon) -> list[list[float]]:
    polygons = [geometry.coordinates] if isinstance(geometry, GeoPolygon) else geometry.coordinates
    return [position for polygon in polygons for ring in polygon for position in ring]


def _area(geometry: GeoPolygon | GeoMultiPolygon) -> GeoPolygon | GeoMultiPolygon:
    for position in _positions(geometry):
        lon, lat = position[0], position[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise PydanticCustomError(
                "invalid_geometry",
                "position [{lon}, {lat}] is out of range (GeoJSON order is [lon, lat])",
                {"lon": lon, "lat": lat},
            )
    try:
        area = shape(geometry.model_dump())
    except (ShapelyError, ValueError, TypeError, IndexError) as exc:
        raise PydanticCustomError(
            "invalid_geometry",
            "not a usable {kind}: {error}",
            {"kind": geometry.type, "error": str(exc)},
        ) from None
    if area.is_empty:
        raise PydanticCustomError("invalid_geometry", "the territory is empty")
    if not area.is_valid:
        raise PydanticCustomError(
            "invalid_geometry",
            "invalid {kind}: {why}",
            {"kind": geometry.type, "why": explain_validity(area)},
        )
    return geometry


Territory = Annotated[
    GeoPolygon | GeoMultiPolygon,
    Field(discriminator="type"),
    AfterValidator(_area),
]

UniqueChannels = Annotated[list[ChannelName], AfterValidator(_unique)]
UniqueCodes = Annotated[list[ServiceCode], AfterValidator(_unique)]
UniqueTags = Annotated[list[Tag], AfterValidator(_unique)]
UniqueIds = Annotated[list[Id], Field(min_length=1), AfterValidator(_unique)]


def patch_model(name: str, base: type[BaseModel], **extra: Any) -> type[BaseModel]:
    """`base` with every field optional: a PATCH body. Only the fields sent are applied.

    Types are kept as they are, so a field that cannot be null in `base` cannot be set to null
    here either (the default None is never validated, only an explicit null is). `extra` adds
    fields, as `create_model` takes them.
    """
    fields: dict[str, Any] = {}
    for field_name, info in base.model_fields.items():
        optional = copy.copy(info)
        optional.default = None
        optional.default_factory = None
        # "default": null in the document would suggest null is a valid value; it is not always.
        optional.json_schema_extra = _drop_default
        fields[field_name] = (info.annotation, optional)
    fields.update(extra)
    model: type[BaseModel] = create_model(name, __base__=base, __doc__=base.__doc__, **fields)
    return model


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class ErrorDetail(OutModel):
    """What went wrong."""

    code: str = Field(description="snake_case error code")
    message: str
    field: str | None = Field(description="dotted path of the offending input, if any")


class ErrorResponse(OutModel):
    """Every error answer."""

    error: ErrorDetail


# -- settings -------------------------------------------------------------------------------------

#: PUT /settings: any subset of the settings (nested `customer_notify` merges too).
SettingsUpdate = patch_model(
    "SettingsUpdate",
    CompanySettings,
    actor_staff_id=(Id | None, Field(default=None, description="staff member acting")),
)


# -- services -------------------------------------------------------------------------------------


class ServiceIn(ApiModel):
    """A service the company offers."""

    code: ServiceCode
    name: Name
    required_skills: UniqueTags = Field(default_factory=list)


ServicePatch = patch_model("ServicePatch", ServiceIn)


class ServiceOut(OutModel):
    """A stored service."""

    id: int
    code: str
    name: str
    required_skills: list[str]


# -- fieldworkers ---------------------------------------------------------------------------------


class FieldworkerIn(ApiModel):
    """A fieldworker as written by an integrator."""

    name: Name
    phone: Phone | None = None
    email: Email | None = None
    telegram_user_id: TelegramUserId | None = None
    channels: UniqueChannels = Field(default_factory=lambda: ["telegram", "sms"])
    services: UniqueCodes = Field(default_factory=list)
    skills: UniqueTags = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    base_location: LatLon | None = None
    territories: Territory | None = None
    working_hours: WorkingHours | None = None
    time_off: list[TimeSpan] = Field(default_factory=list)
    status: FieldworkerStatus = FieldworkerStatus.ACTIVE
    timezone: TimeZoneName | None = Field(
        default=None, description="IANA time zone; null or left out = the company's TIMEZONE"
    )


FieldworkerPatch = patch_model("FieldworkerPatch", FieldworkerIn)


class TimeSpanOut(OutModel):
    """A time span."""

    start: datetime
    end: datetime


class LatLonOut(OutModel):
    """A WGS84 position."""

    lat: float
    lon: float


class FieldworkerOut(OutModel):
    """A stored fieldworker; `invite_code` and `telegram_linked` are read-only."""

    id: int
    name: str
    phone: str | None
    email: str | None
    telegram_user_id: int | None
    channels: list[str]
    services: list[str]
    skills: list[str]
    custom_fields: dict[str, Any]
    base_location: LatLonOut | None
    territories: dict[str, Any] | None
    working_hours: dict[str, list[list[str]]] | None
    time_off: list[TimeSpanOut]
    status: FieldworkerStatus
    timezone: str
    invite_code: str = Field(description="for linking Telegram with /start CODE")
    telegram_linked: bool


# -- staff and roles ------------------------------------------------------------------------------


class StaffIn(ApiModel):
    """A staff member; `role` names an existing role."""

    name: Name
    telegram_user_id: TelegramUserId | None = None
    telegram_username: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None
    ) = None
    phone: Phone | None = None
    role: Tag


StaffPatch = patch_model("StaffPatch", StaffIn)


class StaffOut(OutModel):
    """A stored staff member."""

    id: int
    name: str
    telegram_user_id: int | None
    telegram_username: str | None
    phone: str | None
    role: str


class RoleIn(ApiModel):
    """A role's permissions (PUT replaces them); `owner` always has all of them."""

    permissions: Annotated[list[Permission], AfterValidator(_unique)]
    receives_alerts: bool = Field(
        default=False, description="members with `assign` get staff alerts by Telegram"
    )


class RoleOut(OutModel):
    """A stored role."""

    name: str
    permissions: list[Permission]
    receives_alerts: bool


# -- bookings -------------------------------------------------------------------------------------


class CustomerIn(ApiModel):
    """The person the booking is for."""

    name: Name
    phone: Phone | None = None
    email: Email | None = None


class Requirements(ApiModel):
    """What every fieldworker of the booking must have."""

    skills: UniqueTags = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class BookingIn(ApiModel):
    """A new booking: one job per (appointment, service)."""

    customer: CustomerIn
    address: Address
    location: LatLon
    services: Annotated[UniqueCodes, Field(min_length=1)]
    appointments: Annotated[list[TimeSpan], Field(min_length=1, max_length=50)]
    dispatch_mode: DispatchMode | None = Field(
        default=None, description="left out or null: the company setting"
    )
    requirements: Requirements = Field(default_factory=Requirements)
    notes: Text = ""
    fieldworker_id: Id | None = Field(
        default=None, description="assign every job to this fieldworker at once"
    )
    actor_staff_id: Id | None = None


class BookingChanges(ApiModel):
    """Changes to a booking (PATCH: send only what changes).

    `"status": "cancelled"` cancels the booking and its open jobs. Rescheduling (`appointments`)
    is not available yet and is answered with 422 `not_supported`.
    """

    address: Address
    location: LatLon
    notes: Text
    status: Literal["cancelled"]
    appointments: list[TimeSpan] = Field(description="not available yet (422 not_supported)")
    actor_staff_id: Id | None


BookingPatch = patch_model("BookingPatch", BookingChanges)


class CustomerOut(OutModel):
    """The booking's customer."""

    name: str
    phone: str | None
    email: str | None


class RequirementsOut(OutModel):
    """What every fieldworker of the booking must have."""

    skills: list[str]
    custom_fields: dict[str, Any]


class RespondedBy(OutModel):
    """Who answered a request."""

    kind: ActorKind
    id: int | None


class JobRequestOut(OutModel):
    """One fieldworker asked to take one job."""

    id: int
    fieldworker_id: int
    status: RequestStatus
    reason: str | None
    responded_by: RespondedBy | None
    responded_at: datetime | None
    channel: str | None


class JobOut(OutModel):
    """One service of one appointment."""

    id: int
    appointment: TimeSpanOut
    service: str
    status: JobStatus
    fieldworker_id: int | None
    requests: list[JobRequestOut]


class BookingOut(OutModel):
    """A booking with its jobs and their requests."""

    id: int
    status: BookingStatus
    dispatch_mode: DispatchMode
    customer: CustomerOut
    address: str
    location: LatLonOut
    notes: str
    requirements: RequirementsOut
    created_at: datetime
    jobs: list[JobOut]


class EligibleOut(OutModel):
    """A fieldworker who may be asked."""

    fieldworker_id: int
    name: str
    distance_km: float | None


class ExcludedOut(OutModel):
    """A fieldworker who may not be asked, and every reason why."""

    fieldworker_id: int
    name: str
    reasons: list[ExclusionReason]
    distance_km: float | None


class AvailableOut(OutModel):
    """Eligibility of every fieldworker for one job, nearest first."""

    job_id: int
    eligible: list[EligibleOut]
    excluded: list[ExcludedOut]


class JobRequestsIn(ApiModel):
    """Ask chosen fieldworkers; without `job_ids`, for every open job of the booking."""

    fieldworker_ids: UniqueIds
    job_ids: UniqueIds | None = None
    actor_staff_id: Id | None = None


class SendOut(OutModel):
    """Requests sent, and fieldworkers not asked with why (unreachable, already_pending...)."""

    sent: list[int]
    skipped: dict[str, str]


class AssignIn(ApiModel):
    """Assign (or reassign); without `job_ids`, every job not cancelled or completed."""

    fieldworker_id: Id
    job_ids: UniqueIds | None = None
    actor_staff_id: Id | None = None
    force: bool = Field(default=False, description="assign even when not eligible")


class AssignResult(OutModel):
    """One job's assignment; `changed` is false when it already was theirs."""

    job_id: int
    fieldworker_id: int
    changed: bool


class AssignOut(OutModel):
    """What `assign` did, job by job."""

    results: list[AssignResult]


class RespondIn(ApiModel):
    """Answer on a fieldworker's behalf; without `job_ids`, all their requests of the booking."""

    action: Literal["accept", "decline", "pend"]
    fieldworker_id: Id
    job_ids: UniqueIds | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    actor_staff_id: Id | None = None


class RespondResultOut(OutModel):
    """One request's answer: `outcome` says what happened, `status` where the request is now."""

    job_id: int
    request_id: int
    outcome: str
    status: RequestStatus | None


class RespondOut(OutModel):
    """What `respond` did, request by request."""

    results: list[RespondResultOut]


class ReassignIn(ApiModel):
    """A worker off sick: their jobs starting in [from, to) are taken off them, re-broadcast."""

    from_: IsoDateTime = Field(alias="from")
    to: IsoDateTime
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
    ] = "Reassigned by staff"
    actor_staff_id: Id | None = None


class ReassignResult(OutModel):
    """One job: whether it was taken off the fieldworker, and the requests sent for it."""

    job_id: int
    reassigned: bool
    sent: list[int]


class ReassignOut(OutModel):
    """What `reassign` did, job by job."""

    results: list[ReassignResult]


class RebroadcastOut(OutModel):
    """Request ids sent."""

    sent: list[int]


class HistoryActor(OutModel):
    """Who made the decision."""

    kind: ActorKind
    id: int | None
    name: str


class HistoryOut(OutModel):
    """One history row (append-only)."""

    id: int
    at: datetime
    actor: HistoryActor
    action: str
    on_behalf_of: int | None
    from_status: str | None
    to_status: str | None
    channel: str | None
    details: dict[str, Any]
    job_id: int | None
    request_id: int | None


class NotificationOut(OutModel):
    """One outbox entry."""

    id: int
    booking_id: int | None
    channel: str
    recipient: str
    template: str
    body: str
    status: str
    attempts: int
    error: str | None
    created_at: datetime


# -- query strings --------------------------------------------------------------------------------


class ActorQuery(QueryModel):
    """`actor_staff_id` names the staff member acting; without it the API token acts."""

    actor_staff_id: Id | None = None


class PageQuery(ActorQuery):
    """A page of a list."""

    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class BookingListQuery(PageQuery):
    """Bookings, newest first."""

    status: BookingStatus | None = None


class AvailableQuery(ActorQuery):
    """Which job to evaluate (default: the first open job, else the first job)."""

    job_id: Id | None = None


class NotificationQuery(PageQuery):
    """Outbox entries, oldest first."""

    booking_id: Id | None = None
