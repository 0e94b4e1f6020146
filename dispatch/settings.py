"""Company dispatch settings (CONTRACT §4 `/settings`): one schema for API, storage and core."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dispatch.model import DEFAULT_DECLINE_REASONS, OTHER_REASON, DispatchMode

#: A reason button carries its index in its callback data, so the list is bounded.
MAX_DECLINE_REASONS = 20
#: Every duration (`*_s`) is whole seconds from 0 (that timer off) to 30 days (CONTRACT §4): a
#: larger one overflows the deadlines computed from it.
MAX_DURATION_S = 30 * 24 * 3600


class CustomerNotify(BaseModel):
    """Which customer SMS updates are sent."""

    model_config = ConfigDict(extra="forbid")

    assigned: bool = True
    no_acceptance_after_s: int = Field(default=1800, ge=0, le=MAX_DURATION_S)
    unassigned_before_start: bool = True
    fieldworker_cancelled: bool = True
    fieldworker_changed: bool = True
    rescheduled: bool = True
    cancelled: bool = True


class RescheduleAssist(BaseModel):
    """Reschedule Assist (CONTRACT §5): a fieldworker who cannot come proposes other times."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    max_slots: int = Field(default=3, ge=1, le=3)  # the customer answers "Reply 1, 2 or 3"
    offer_expires_s: int = Field(default=86400, ge=0, le=MAX_DURATION_S)


class CompanySettings(BaseModel):
    """The company's dispatch settings; every key has the CONTRACT default."""

    model_config = ConfigDict(extra="forbid")

    dispatch_mode: DispatchMode = DispatchMode.AUTO
    travel_radius_km: float = Field(default=25, gt=0, le=20000)
    assignment_timeout_s: int = Field(default=900, ge=0, le=MAX_DURATION_S)
    decline_reason_required: bool = True
    unassigned_alert_lead_s: int = Field(default=7200, ge=0, le=MAX_DURATION_S)
    customer_notify: CustomerNotify = Field(default_factory=CustomerNotify)
    auto_rebroadcast_on_cancel: bool = True
    decline_reasons: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DECLINE_REASONS),
        min_length=1,
        max_length=MAX_DECLINE_REASONS,
    )
    # Reminders (`dispatch.reminders`) and the SMS backup (not built yet): 0 turns a timer off;
    # the day-before confirmation is checked when it comes due.
    nudge_after_s: int = Field(default=600, ge=0, le=MAX_DURATION_S)
    reminder_before_s: int = Field(default=3600, ge=0, le=MAX_DURATION_S)
    day_before_confirmation: bool = False
    # Stored and range-checked so the whole CONTRACT body is accepted; Reschedule Assist that
    # reads it is not built yet (README "Not built yet").
    reschedule_assist: RescheduleAssist = Field(default_factory=RescheduleAssist)
    sms_backup_for_requests: bool = False

    @field_validator("decline_reasons")
    @classmethod
    def _reasons_are_usable(cls, value: list[str]) -> list[str]:
        cleaned = [r.strip() for r in value]
        if any(not r or len(r) > 60 for r in cleaned):
            raise ValueError("each decline reason must be 1 to 60 characters")
        if any("\x00" in r for r in cleaned):  # PostgreSQL cannot store it
            raise ValueError("a decline reason must not contain NUL")
        if len({r.casefold() for r in cleaned}) != len(cleaned):
            raise ValueError("decline reasons must be distinct")
        return cleaned

    def is_other(self, reason: str) -> bool:
        """True for the reason that asks for a typed explanation."""
        return reason.casefold() == OTHER_REASON.casefold()
