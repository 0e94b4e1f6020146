"""Bodies of `/templates`: message templates per event and channel, and their previews."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from rest.schemas.common import ApiModel, Id, OutModel

#: A template's text: long enough for any message (Telegram's limit is 4,096 characters once
#: rendered), short enough that checking it stays cheap.
TemplateText = Annotated[str, StringConstraints(max_length=10_000)]
TemplateSubject = Annotated[str, StringConstraints(max_length=1_000)]
ParseMode = Literal["HTML", "MarkdownV2"]


class TemplateOut(OutModel):
    """The template in force for one event and channel."""

    event: str
    channel: Literal["telegram", "sms", "email"]
    subject: str | None = Field(description="an email's subject (null on other channels)")
    body: str
    parse_mode: ParseMode | None = Field(
        description="Telegram only: HTML or MarkdownV2 (merge fields are escaped for it); "
        "null sends plain text"
    )
    fields: list[str] = Field(description="the merge fields this template may use")
    field_descriptions: dict[str, str] = Field(description="what each of those fields holds")
    is_default: bool = Field(description="false once staff saved their own (DELETE restores)")
    audience: Literal["fieldworker", "customer", "staff"]
    description: str = Field(description="when this message is sent")


class TemplateIn(ApiModel):
    """A template replacing the one in force (a whole template: parts left out are empty)."""

    body: Annotated[TemplateText, Field(min_length=1)]
    subject: TemplateSubject | None = Field(default=None, description="email only, required there")
    parse_mode: ParseMode | None = Field(default=None, description="Telegram only")
    actor_staff_id: Id | None = Field(default=None, description="staff member acting")


class PreviewIn(ApiModel):
    """What to preview: the template in force, or a proposed one (parts left out are the ones in
    force), against a booking or, without `booking_id`, sample data."""

    booking_id: Id | None = None
    body: TemplateText | None = None
    subject: TemplateSubject | None = None
    parse_mode: ParseMode | None = None
    actor_staff_id: Id | None = Field(default=None, description="staff member acting")


class SegmentsOut(OutModel):
    """How an SMS goes: its encoding, its length in that encoding, and how many segments."""

    count: int
    encoding: Literal["GSM-7", "UCS-2"]
    units: int = Field(description="septets (GSM-7) or UTF-16 code units (UCS-2)")


class PreviewOut(OutModel):
    """A rendered message as it would be sent."""

    subject: str | None
    body: str
    parse_mode: ParseMode | None
    segments: SegmentsOut | None = Field(description="SMS only")
