"""Tortoise models: the database schema. Deadlines are columns: the scheduler sweeps what is due.

Class docstrings become SQL table comments, and tortoise's SQLite migration runner splits statements
on semicolons: keep semicolons out of model docstrings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from dispatch.narrowing import territory_box

#: The columns kept equal to the bounding box of `Fieldworker.territories` (`area_columns`).
AREA_COLUMNS = ("area_min_lat", "area_max_lat", "area_min_lon", "area_max_lon")


def area_columns(territories: Mapping[str, Any] | None) -> dict[str, float | None]:
    """The `AREA_COLUMNS` values for these territories (all None when they are not an area).

    Written with `territories` on every save; a bulk `update(territories=...)` must write these too.
    """
    box = territory_box(territories)
    if box is None:
        return dict.fromkeys(AREA_COLUMNS)
    values = (box.min_lat, box.max_lat, box.min_lon, box.max_lon)
    return dict(zip(AREA_COLUMNS, values, strict=True))


class CompanySettingsRow(Model):
    """The single row of company settings (id 1), stored as the validated JSON document."""

    id = fields.IntField(primary_key=True)
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "company_settings"


class Service(Model):
    """A service the company offers, with the skills it requires."""

    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=200)
    required_skills: fields.JSONField[list[Any]] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "service"


class Fieldworker(Model):
    """A technician, cleaner or courier who is sent to customers."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    phone = fields.CharField(max_length=20, null=True, unique=True)
    email = fields.CharField(max_length=254, null=True)
    telegram_user_id = fields.BigIntField(null=True, unique=True)
    telegram_chat_id = fields.BigIntField(null=True)
    telegram_username = fields.CharField(max_length=64, null=True, db_index=True)
    channels: fields.JSONField[list[Any]] = fields.JSONField(default=list)
    services: fields.JSONField[list[Any]] = fields.JSONField(default=list)
    skills: fields.JSONField[list[Any]] = fields.JSONField(default=list)
    custom_fields: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    base_lat = fields.FloatField(null=True)
    base_lon = fields.FloatField(null=True)
    territories: fields.JSONField[Any] = fields.JSONField(null=True)
    # The bounding box of `territories`, so a database finds who may cover a point from indexed
    # columns (`dispatch.narrowing`); NULL without territories or when they are not an area.
    area_min_lat = fields.FloatField(null=True)
    area_max_lat = fields.FloatField(null=True)
    area_min_lon = fields.FloatField(null=True)
    area_max_lon = fields.FloatField(null=True)
    working_hours: fields.JSONField[Any] = fields.JSONField(null=True)
    time_off: fields.JSONField[list[Any]] = fields.JSONField(default=list)
    status = fields.CharField(max_length=16, default="active")
    timezone = fields.CharField(max_length=64, default="UTC")
    invite_code = fields.CharField(max_length=32, unique=True)
    # Set when the code linked a Telegram account: a spent code links nobody else.
    invite_code_used_at = fields.DatetimeField(null=True)
    sms_opt_out = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "fieldworker"

    async def save(
        self,
        using_db: BaseDBAsyncClient | None = None,
        update_fields: Iterable[str] | None = None,
        force_create: bool = False,
        force_update: bool = False,
    ) -> None:
        """Save, keeping the bounding box of the territories in step with them."""
        for column, value in area_columns(self.territories).items():
            setattr(self, column, value)
        if update_fields is not None and "territories" in update_fields:
            update_fields = [*update_fields, *AREA_COLUMNS]
        await super().save(using_db, update_fields, force_create, force_update)


class Customer(Model):
    """The person a booking is for."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    phone = fields.CharField(max_length=20, null=True, db_index=True)
    email = fields.CharField(max_length=254, null=True)
    sms_opt_out = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "customer"


class Booking(Model):
    """A customer's order: one or more appointments, one or more services."""

    id = fields.IntField(primary_key=True)
    customer: fields.ForeignKeyRelation[Customer] = fields.ForeignKeyField(
        "models.Customer", related_name="bookings", on_delete=fields.RESTRICT
    )
    customer_id: int
    address = fields.CharField(max_length=500)
    lat = fields.FloatField()
    lon = fields.FloatField()
    dispatch_mode = fields.CharField(max_length=16)
    status = fields.CharField(max_length=16, default="open")
    required_skills: fields.JSONField[list[Any]] = fields.JSONField(default=list)
    custom_fields: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    notes = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "booking"


class Appointment(Model):
    """One visit of a booking."""

    id = fields.IntField(primary_key=True)
    booking: fields.ForeignKeyRelation[Booking] = fields.ForeignKeyField(
        "models.Booking", related_name="appointments", on_delete=fields.CASCADE
    )
    booking_id: int
    start = fields.DatetimeField()
    end = fields.DatetimeField()

    class Meta:
        table = "appointment"


class Job(Model):
    """One service of one appointment. `version` is bumped by every locking write."""

    id = fields.IntField(primary_key=True)
    booking: fields.ForeignKeyRelation[Booking] = fields.ForeignKeyField(
        "models.Booking", related_name="jobs", on_delete=fields.CASCADE
    )
    booking_id: int
    appointment: fields.ForeignKeyRelation[Appointment] = fields.ForeignKeyField(
        "models.Appointment", related_name="jobs", on_delete=fields.CASCADE
    )
    appointment_id: int
    service_code = fields.CharField(max_length=64)
    status = fields.CharField(max_length=16, default="unassigned", db_index=True)
    fieldworker: fields.ForeignKeyNullableRelation[Fieldworker] = fields.ForeignKeyField(
        "models.Fieldworker", related_name="jobs", null=True, on_delete=fields.SET_NULL
    )
    fieldworker_id: int | None
    version = fields.IntField(default=0)
    assigned_at = fields.DatetimeField(null=True)
    # The assigned fieldworker confirmed the day before (`day_before_confirmation`).
    confirmed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "job"


class JobRequest(Model):
    """One fieldworker asked to take one job, at most one row per (job, fieldworker)."""

    id = fields.IntField(primary_key=True)
    job: fields.ForeignKeyRelation[Job] = fields.ForeignKeyField(
        "models.Job", related_name="requests", on_delete=fields.CASCADE
    )
    job_id: int
    booking_id = fields.IntField(db_index=True)
    fieldworker: fields.ForeignKeyRelation[Fieldworker] = fields.ForeignKeyField(
        "models.Fieldworker", related_name="requests", on_delete=fields.CASCADE
    )
    fieldworker_id: int
    status = fields.CharField(max_length=16, default="pending", db_index=True)
    reason = fields.TextField(null=True)
    responded_by_kind = fields.CharField(max_length=16, null=True)
    responded_by_id = fields.IntField(null=True)
    responded_at = fields.DatetimeField(null=True)
    channel = fields.CharField(max_length=16, null=True)
    # The number a fieldworker quotes in an SMS answer (`YES 4821`).
    reply_code = fields.IntField(db_index=True)
    expires_at = fields.DatetimeField(null=True, db_index=True)
    telegram_chat_id = fields.BigIntField(null=True)
    telegram_message_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "job_request"
        unique_together = (("job", "fieldworker"),)


class Role(Model):
    """A named set of permissions. `receives_alerts` sends staff alerts to its members."""

    name = fields.CharField(max_length=64, primary_key=True)
    permissions: fields.JSONField[list[Any]] = fields.JSONField(default=list)
    receives_alerts = fields.BooleanField(default=False)

    class Meta:
        table = "role"


class Staff(Model):
    """Office staff: dispatchers, owners, viewers."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    telegram_user_id = fields.BigIntField(null=True, unique=True)
    telegram_username = fields.CharField(max_length=64, null=True)
    phone = fields.CharField(max_length=20, null=True)
    role = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff"


class History(Model):
    """Append-only audit trail of every decision: no code path updates or deletes a row."""

    id = fields.BigIntField(primary_key=True)
    booking_id = fields.IntField(db_index=True)
    job_id = fields.IntField(null=True)
    request_id = fields.IntField(null=True)
    at = fields.DatetimeField()
    actor_kind = fields.CharField(max_length=16)
    actor_id = fields.IntField(null=True)
    actor_name = fields.CharField(max_length=200, default="")
    action = fields.CharField(max_length=32)
    on_behalf_of = fields.IntField(null=True)
    from_status = fields.CharField(max_length=16, null=True)
    to_status = fields.CharField(max_length=16, null=True)
    channel = fields.CharField(max_length=16, null=True)
    details: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)

    class Meta:
        table = "history"


class InboundEvent(Model):
    """An update from Telegram or Twilio, recorded before it acts. `key` dedupes redeliveries."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=80, unique=True)
    payload: fields.JSONField[Any] = fields.JSONField()
    status = fields.CharField(max_length=16, default="new", db_index=True)
    attempts = fields.IntField(default=0)
    claimed_until = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "inbound_event"


class Notification(Model):
    """Outbox: a message to send (or a Telegram message to edit), written with the state change."""

    id = fields.BigIntField(primary_key=True)
    booking_id = fields.IntField(null=True, db_index=True)
    channel = fields.CharField(max_length=16)
    recipient = fields.CharField(max_length=64)
    template = fields.CharField(max_length=64)
    body = fields.TextField()
    payload: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    request_id = fields.IntField(null=True)
    status = fields.CharField(max_length=16, default="queued", db_index=True)
    attempts = fields.IntField(default=0)
    error = fields.TextField(null=True)
    next_attempt_at = fields.DatetimeField()
    claimed_until = fields.DatetimeField(null=True)
    provider_id = fields.CharField(max_length=64, null=True, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notification"


class Conversation(Model):
    """Chat state that must survive restarts and be shared by processes (awaiting a reason, ...)."""

    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=16)
    address = fields.CharField(max_length=64)
    state = fields.CharField(max_length=32)
    data: fields.JSONField[dict[str, Any]] = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversation"
        unique_together = (("channel", "address"),)


class Timer(Model):
    """A deadline: `kind` names the flow, `subject_id` its booking, appointment, request or job.

    `due_at` is `anchor_at` moved by the setting of its kind (NULL while that setting turns the
    timer off), written in the transaction that creates the state. The sweep claims due rows
    atomically and marks them `done` (or `dropped`: too late to matter) in the transaction that
    acts on them, so each fires once across restarts and processes.
    """

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=32)
    subject_id = fields.IntField()
    booking_id = fields.IntField(db_index=True)
    anchor_at = fields.DatetimeField()
    due_at = fields.DatetimeField(null=True, db_index=True)
    status = fields.CharField(max_length=16, default="pending", db_index=True)
    fired_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "timer"
        unique_together = (("kind", "subject_id"),)


class RescheduleOffer(Model):
    """Times a fieldworker proposed for a job they could not take (Reschedule Assist).

    `slots` is a list of `{"start", "end"}` (ISO 8601, UTC); `chosen` the customer's pick (1-based).
    `status`: open, chosen, expired, superseded or withdrawn.
    """

    id = fields.IntField(primary_key=True)
    booking_id = fields.IntField(db_index=True)
    job_id = fields.IntField(db_index=True)
    fieldworker_id = fields.IntField()
    slots: fields.JSONField[list[Any]] = fields.JSONField(default=list)
    status = fields.CharField(max_length=16, default="open", db_index=True)
    customer_phone = fields.CharField(max_length=20, null=True, db_index=True)
    chosen = fields.IntField(null=True)
    expires_at = fields.DatetimeField(db_index=True)
    closed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "reschedule_offer"
