"""Bodies of `/fieldworkers`, and of re-dispatching one fieldworker's jobs (`reassign`)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from dispatch.model import FieldworkerStatus
from rest.schemas.common import (
    ApiModel,
    ChannelName,
    Email,
    Id,
    IsoDateTime,
    LatLon,
    LatLonOut,
    Name,
    OutModel,
    Phone,
    TelegramUserId,
    Territory,
    TimeSpan,
    TimeSpanOut,
    TimeZoneName,
    UniqueChannels,
    UniqueCodes,
    UniqueTags,
    WorkingHours,
    patch_model,
)


def _default_channels() -> list[ChannelName]:
    return ["telegram", "sms"]


class FieldworkerIn(ApiModel):
    """A fieldworker as written by an integrator."""

    name: Name
    phone: Phone | None = None
    email: Email | None = None
    telegram_user_id: TelegramUserId | None = None
    channels: UniqueChannels = Field(default_factory=_default_channels)
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


class FieldworkerOut(OutModel):
    """A stored fieldworker; the invite code fields and `telegram_linked` are read-only."""

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
    invite_code: str = Field(
        description="for linking Telegram with /start CODE; it links one account once "
        "(POST /fieldworkers/{id}/invite-code issues a fresh one)"
    )
    invite_code_used: bool = Field(description="the code linked a Telegram account already")
    telegram_linked: bool


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
