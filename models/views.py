"""Stored rows as the core sees them (views, profiles, contacts), settings, and the clock."""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from dispatch.model import (
    BookingStatus,
    DispatchMode,
    FieldworkerProfile,
    FieldworkerStatus,
    Interval,
    Point,
    RequestStatus,
)
from dispatch.ports import (
    BookingView,
    RequestView,
)
from dispatch.reachability import Contact
from dispatch.settings import CompanySettings
from models import tables as t

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
    location = (
        Point(fw.base_lat, fw.base_lon)
        if fw.base_lat is not None and fw.base_lon is not None
        else None
    )
    hours = None
    if fw.working_hours is not None:
        hours = {day: [tuple(s) for s in shifts] for day, shifts in fw.working_hours.items()}
    return FieldworkerProfile(
        id=fw.id,
        name=fw.name,
        status=FieldworkerStatus(fw.status),
        services=frozenset(fw.services or ()),
        skills=frozenset(fw.skills or ()),
        custom_fields=fw.custom_fields or {},
        base_location=location,
        territories=fw.territories,
        working_hours=hours,
        time_off=tuple(
            Interval(datetime.fromisoformat(o["start"]), datetime.fromisoformat(o["end"]))
            for o in fw.time_off or ()
        ),
        timezone=fw.timezone,
        busy=busy,
    )


def contact_of(fw: t.Fieldworker) -> Contact:
    """How a stored fieldworker can be reached, as the core sees it."""
    return Contact(
        channels=tuple(fw.channels or ()),
        telegram_chat_id=fw.telegram_chat_id,
        phone=fw.phone,
        sms_opt_out=fw.sms_opt_out,
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
