"""Stored rows as the core sees them (views, profiles, contacts), settings, and the clock."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic import ValidationError

from dispatch.model import (
    BookingStatus,
    Channel,
    DispatchMode,
    FieldworkerProfile,
    FieldworkerStatus,
    Interval,
    JobStatus,
    Point,
    RequestStatus,
)
from dispatch.ports import (
    Audience,
    BookingView,
    FailedNotification,
    RequestView,
)
from dispatch.reachability import Contact
from dispatch.settings import CompanySettings
from models import tables as t
from models.rows import FieldworkerLike, query

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The current aware UTC time."""
    return datetime.now(UTC)


async def load_settings() -> CompanySettings:
    """The company settings (defaults until someone saves them)."""
    row = await t.CompanySettingsRow.get_or_none(id=1)
    return settings_from_stored(row.data) if row else CompanySettings()


def settings_from_stored(data: dict[str, Any]) -> CompanySettings:
    """Stored settings; a value the bounds now refuse reads as its default (and is logged).

    Rows saved before a bound existed (e.g. `assignment_timeout_s` 10^12) must not fail every
    later command that reads the settings.
    """
    try:
        return CompanySettings.model_validate(data)
    except ValidationError as exc:
        usable = copy.deepcopy(data)
        for error in exc.errors(include_url=False):
            # Drop the innermost setting (a key of a dict) on the error's path.
            holder: Any = usable
            parent: dict[str, Any] | None = None
            key: Any = None
            for part in error["loc"]:
                if not (isinstance(holder, dict) and part in holder):
                    break
                parent, key, holder = holder, part, holder[part]
            if parent is not None:
                parent.pop(key, None)
            log.warning("stored setting %s is invalid: using its default", error["loc"])
    try:
        return CompanySettings.model_validate(usable)
    except ValidationError:
        log.warning("stored settings are unusable: using the defaults")
        return CompanySettings()


def fieldworker_profile(fw: t.Fieldworker, busy: tuple[Interval, ...] = ()) -> FieldworkerProfile:
    """The eligibility view of a stored fieldworker."""
    return profile_of(
        fw.id,
        fw.name,
        fw.status,
        fw.services,
        fw.skills,
        fw.custom_fields,
        fw.base_lat,
        fw.base_lon,
        fw.territories,
        fw.working_hours,
        fw.time_off,
        fw.timezone,
        busy,
    )


def profile_of(
    fieldworker_id: int,
    name: str,
    status: str,
    services: Any,
    skills: Any,
    custom_fields: Any,
    base_lat: float | None,
    base_lon: float | None,
    territories: Any,
    working_hours: Any,
    time_off: Any,
    timezone: str,
    busy: tuple[Interval, ...] = (),
) -> FieldworkerProfile:
    """The eligibility view of a fieldworker's stored columns (JSON ones decoded)."""
    location = Point(base_lat, base_lon) if base_lat is not None and base_lon is not None else None
    hours = None
    if working_hours is not None:
        hours = {day: [tuple(s) for s in shifts] for day, shifts in working_hours.items()}
    return FieldworkerProfile(
        id=fieldworker_id,
        name=name,
        status=FieldworkerStatus(status),
        services=frozenset(services or ()),
        skills=frozenset(skills or ()),
        custom_fields=custom_fields or {},
        base_location=location,
        territories=territories,
        working_hours=hours,
        time_off=tuple(
            Interval(datetime.fromisoformat(o["start"]), datetime.fromisoformat(o["end"]))
            for o in time_off or ()
        ),
        timezone=timezone,
        busy=busy,
    )


def contact_of(fw: FieldworkerLike) -> Contact:
    """How a stored fieldworker can be reached, as the core sees it."""
    return Contact(
        channels=tuple(fw.channels or ()),
        telegram_chat_id=fw.telegram_chat_id,
        phone=fw.phone,
        sms_opt_out=fw.sms_opt_out,
        telegram_user_id=fw.telegram_user_id,
        email=fw.email,
    )


def failed_notification(row: t.Notification, *, to_staff: bool) -> FailedNotification:
    """The core's view of an outbox row that failed; `to_staff` when its chat is a staff member's.

    The renderer names a fieldworker's rows in the payload (`fieldworker_id`, `job_request`), and
    a row sent on after a refusal lists the channels that `refused` it. A row with a request but no
    fieldworker predates that: it was to the request's fieldworker (the core looks them up).
    """
    payload = row.payload or {}
    fieldworker_id = payload.get("fieldworker_id")
    if fieldworker_id is not None or row.request_id is not None:
        audience = Audience.FIELDWORKER
    else:
        audience = Audience.STAFF if to_staff else Audience.CUSTOMER
    return FailedNotification(
        id=row.id,
        booking_id=row.booking_id,
        channel=Channel(row.channel),
        audience=audience,
        fieldworker_id=int(fieldworker_id) if fieldworker_id is not None else None,
        request_id=row.request_id,
        job_request=bool(payload.get("job_request")),
        refused=tuple(Channel(c) for c in payload.get("refused", ())),
    )


def _booking_view(b: t.Booking) -> BookingView:
    return BookingView(
        id=b.id,
        status=BookingStatus(b.status),
        dispatch_mode=DispatchMode(b.dispatch_mode),
        location=Point(b.lat, b.lon),
        required_skills=frozenset(b.required_skills or ()),
        custom_fields=b.custom_fields or {},
        address=b.address,
        notes=b.notes,
    )


def _request_view(r: t.JobRequest) -> RequestView:
    return RequestView(
        r.id,
        r.job_id,
        r.booking_id,
        r.fieldworker_id,
        RequestStatus(r.status),
        r.reason,
        r.reply_code,
    )


_PRESS_STATE = (
    'SELECT r."status", j."status" AS job_status, r."job_id", f."id" AS fieldworker_id, '
    'f."name" FROM "job_request" r JOIN "fieldworker" f ON f."id" = r."fieldworker_id" '
    'JOIN "job" j ON j."id" = r."job_id" WHERE r."id" = ? AND f."telegram_user_id" = ? LIMIT 1'
)


class PressState(NamedTuple):
    """A Telegram user's own request as a press reads it (`press_state`)."""

    request: RequestStatus
    job: JobStatus
    job_id: int
    fieldworker_id: int
    fieldworker_name: str


async def press_state(request_id: int, telegram_user_id: int) -> PressState | None:
    """The status of a Telegram user's own request and of its job, the job's id and the
    fieldworker, in one read (no transaction); None when the request is not theirs or does not
    exist.

    Plain SQL: every press of a burst reads this first, and the ORM spent more CPU building the
    query than the database spent running it.
    """
    rows = await query(_PRESS_STATE, [request_id, telegram_user_id])
    if not rows:
        return None
    row = rows[0]
    return PressState(
        RequestStatus(row["status"]),
        JobStatus(row["job_status"]),
        int(row["job_id"]),
        int(row["fieldworker_id"]),
        str(row["name"]),
    )
