"""Stored rows as the core sees them (views, profiles, contacts), settings, and the clock."""

from __future__ import annotations

from datetime import UTC, datetime

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


def utcnow() -> datetime:
    """The current aware UTC time."""
    return datetime.now(UTC)


async def load_settings() -> CompanySettings:
    """The company settings (defaults until someone saves them)."""
    row = await t.CompanySettingsRow.get_or_none(id=1)
    return CompanySettings.model_validate(row.data) if row else CompanySettings()


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
        telegram_user_id=fw.telegram_user_id,
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
