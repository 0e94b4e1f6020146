"""What every schema module shares: base classes, scalar types and validators, shared objects.

Errors raised here with `PydanticCustomError` carry their own type (`invalid_phone`,
`invalid_geometry`, ...); the API uses that type as the error code (see `CUSTOM_ERROR_CODES`).
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
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
#: The years the product can schedule in (UTC): beyond them a date-time is refused, so that no
#: deadline computed from it (`start - lead`, `end + offset`) leaves what `datetime` can hold.
FIRST_YEAR, LAST_YEAR = 2000, 2100


def refuse_nul(value: Any) -> Any:
    """`value` as it is; refused when any text in it (dict keys too) holds NUL.

    PostgreSQL cannot store NUL in text or JSON, so a NUL would fail at the insert (a 500).
    Walks nested lists and dicts without recursion.
    """
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise PydanticCustomError("invalid_value", "text must not contain NUL (\\u0000)")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return value


# -- base classes ---------------------------------------------------------------------------------


class ApiModel(BaseModel):
    """A request body: unknown fields are refused, values are validated strictly from JSON."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # Every field of every body, nested ones and free-form JSON (`custom_fields`) included.
        return refuse_nul(value)


class OutModel(BaseModel):
    """A response body (also closed: an answer never carries a field the document lacks)."""

    model_config = ConfigDict(extra="forbid")


class QueryModel(BaseModel):
    """Query-string parameters (text, so validated leniently: `?limit=10` is an integer)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return refuse_nul(value)


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
    # The local year first: converting year 9999 or 0001 to UTC can itself overflow.
    years = range(FIRST_YEAR, LAST_YEAR + 1)
    if parsed.year not in years or parsed.astimezone(UTC).year not in years:
        raise PydanticCustomError(
            "invalid_value",
            "date-time {value} is outside the years {first} to {last}",
            {"value": value, "first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return parsed


def unique(values: list[Any]) -> list[Any]:
    """The list as it is; `duplicate_value` names the first value that repeats."""
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
    Field(description=f"ISO 8601 date-time with a UTC offset, years {FIRST_YEAR} to {LAST_YEAR}"),
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


def _rings(geometry: GeoPolygon | GeoMultiPolygon) -> list[list[list[float]]]:
    polygons = [geometry.coordinates] if isinstance(geometry, GeoPolygon) else geometry.coordinates
    return [ring for polygon in polygons for ring in polygon]


def _positions(geometry: GeoPolygon | GeoMultiPolygon) -> list[list[float]]:
    return [position for ring in _rings(geometry) for position in ring]


def _area(geometry: GeoPolygon | GeoMultiPolygon) -> GeoPolygon | GeoMultiPolygon:
    # GeoJSON (RFC 7946 3.1.6): a ring is closed and has at least four positions. Shapely would
    # close an open ring silently, storing a territory other than the one sent.
    for ring in _rings(geometry):
        if len(ring) < 4 or ring[0] != ring[-1]:
            raise PydanticCustomError(
                "invalid_geometry",
                "each ring must be closed (its last position equal to its first) and have at "
                "least four positions",
            )
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

UniqueChannels = Annotated[list[ChannelName], AfterValidator(unique)]
UniqueCodes = Annotated[list[ServiceCode], AfterValidator(unique)]
UniqueTags = Annotated[list[Tag], AfterValidator(unique)]
UniqueIds = Annotated[list[Id], Field(min_length=1), AfterValidator(unique)]


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


class TimeSpanOut(OutModel):
    """A time span."""

    start: datetime
    end: datetime


class LatLonOut(OutModel):
    """A WGS84 position."""

    lat: float
    lon: float
