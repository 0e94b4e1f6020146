import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="CompanySettingsRow",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "data",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "company_settings",
                "app": "models",
                "pk_attr": "id",
                "table_description": "The single row of company settings (id 1), stored as the validated JSON document.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Conversation",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("channel", fields.CharField(max_length=16)),
                ("address", fields.CharField(max_length=64)),
                ("state", fields.CharField(max_length=32)),
                (
                    "data",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "conversation",
                "app": "models",
                "unique_together": (("channel", "address"),),
                "pk_attr": "id",
                "table_description": "Chat state that must survive restarts and be shared by processes (awaiting a reason, ...).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Customer",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(max_length=200)),
                ("phone", fields.CharField(null=True, db_index=True, max_length=20)),
                ("email", fields.CharField(null=True, max_length=254)),
                ("sms_opt_out", fields.BooleanField(default=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "customer",
                "app": "models",
                "pk_attr": "id",
                "table_description": "The person a booking is for.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Booking",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "customer",
                    fields.ForeignKeyField(
                        "models.Customer",
                        source_field="customer_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="bookings",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("address", fields.CharField(max_length=500)),
                ("lat", fields.FloatField()),
                ("lon", fields.FloatField()),
                ("dispatch_mode", fields.CharField(max_length=16)),
                ("status", fields.CharField(default="open", max_length=16)),
                (
                    "required_skills",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "custom_fields",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("notes", fields.TextField(default="", unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "booking",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A customer's order: one or more appointments, one or more services.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Appointment",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "booking",
                    fields.ForeignKeyField(
                        "models.Booking",
                        source_field="booking_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="appointments",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("start", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("end", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "appointment",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One visit of a booking.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Fieldworker",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(max_length=200)),
                ("phone", fields.CharField(null=True, unique=True, max_length=20)),
                ("email", fields.CharField(null=True, max_length=254)),
                ("telegram_user_id", fields.BigIntField(null=True, unique=True)),
                ("telegram_chat_id", fields.BigIntField(null=True)),
                ("telegram_username", fields.CharField(null=True, db_index=True, max_length=64)),
                (
                    "channels",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "services",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "skills",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "custom_fields",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("base_lat", fields.FloatField(null=True)),
                ("base_lon", fields.FloatField(null=True)),
                (
                    "territories",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "working_hours",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "time_off",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("status", fields.CharField(default="active", max_length=16)),
                ("timezone", fields.CharField(default="UTC", max_length=64)),
                ("invite_code", fields.CharField(unique=True, max_length=32)),
                ("sms_opt_out", fields.BooleanField(default=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "fieldworker",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A technician, cleaner or courier who is sent to customers.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="History",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("booking_id", fields.IntField(db_index=True)),
                ("job_id", fields.IntField(null=True)),
                ("request_id", fields.IntField(null=True)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("actor_kind", fields.CharField(max_length=16)),
                ("actor_id", fields.IntField(null=True)),
                ("actor_name", fields.CharField(default="", max_length=200)),
                ("action", fields.CharField(max_length=32)),
                ("on_behalf_of", fields.IntField(null=True)),
                ("from_status", fields.CharField(null=True, max_length=16)),
                ("to_status", fields.CharField(null=True, max_length=16)),
                ("channel", fields.CharField(null=True, max_length=16)),
                (
                    "details",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
            ],
            options={
                "table": "history",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Append-only audit trail of every decision: no code path updates or deletes a row.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="InboundEvent",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("key", fields.CharField(unique=True, max_length=80)),
                (
                    "payload",
                    fields.JSONField(
                        encoder=functools.partial(dumps, separators=(",", ":")), decoder=loads
                    ),
                ),
                ("status", fields.CharField(default="new", db_index=True, max_length=16)),
                ("attempts", fields.IntField(default=0)),
                (
                    "claimed_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("error", fields.TextField(null=True, unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "inbound_event",
                "app": "models",
                "pk_attr": "id",
                "table_description": "An update from Telegram or Twilio, recorded before it acts. `key` dedupes redeliveries.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Job",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "booking",
                    fields.ForeignKeyField(
                        "models.Booking",
                        source_field="booking_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="jobs",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "appointment",
                    fields.ForeignKeyField(
                        "models.Appointment",
                        source_field="appointment_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="jobs",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("service_code", fields.CharField(max_length=64)),
                ("status", fields.CharField(default="unassigned", db_index=True, max_length=16)),
                (
                    "fieldworker",
                    fields.ForeignKeyField(
                        "models.Fieldworker",
                        source_field="fieldworker_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="jobs",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("version", fields.IntField(default=0)),
                (
                    "assigned_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "job",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One service of one appointment. `version` is bumped by every locking write.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="JobRequest",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "job",
                    fields.ForeignKeyField(
                        "models.Job",
                        source_field="job_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="requests",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("booking_id", fields.IntField(db_index=True)),
                (
                    "fieldworker",
                    fields.ForeignKeyField(
                        "models.Fieldworker",
                        source_field="fieldworker_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="requests",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("status", fields.CharField(default="pending", db_index=True, max_length=16)),
                ("reason", fields.TextField(null=True, unique=False)),
                ("responded_by_kind", fields.CharField(null=True, max_length=16)),
                ("responded_by_id", fields.IntField(null=True)),
                (
                    "responded_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("channel", fields.CharField(null=True, max_length=16)),
                ("reply_code", fields.IntField(db_index=True)),
                (
                    "expires_at",
                    fields.DatetimeField(
                        null=True, db_index=True, auto_now=False, auto_now_add=False
                    ),
                ),
                ("telegram_chat_id", fields.BigIntField(null=True)),
                ("telegram_message_id", fields.BigIntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "job_request",
                "app": "models",
                "unique_together": (("job", "fieldworker"),),
                "pk_attr": "id",
                "table_description": "One fieldworker asked to take one job, at most one row per (job, fieldworker).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Notification",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("booking_id", fields.IntField(null=True, db_index=True)),
                ("channel", fields.CharField(max_length=16)),
                ("recipient", fields.CharField(max_length=64)),
                ("template", fields.CharField(max_length=64)),
                ("body", fields.TextField(unique=False)),
                (
                    "payload",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("request_id", fields.IntField(null=True)),
                ("status", fields.CharField(default="queued", db_index=True, max_length=16)),
                ("attempts", fields.IntField(default=0)),
                ("error", fields.TextField(null=True, unique=False)),
                ("next_attempt_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "claimed_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("provider_id", fields.CharField(null=True, db_index=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "notification",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Outbox: a message to send (or a Telegram message to edit), written with the state change.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Role",
            fields=[
                (
                    "name",
                    fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64),
                ),
                (
                    "permissions",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("receives_alerts", fields.BooleanField(default=False)),
            ],
            options={
                "table": "role",
                "app": "models",
                "pk_attr": "name",
                "table_description": "A named set of permissions. `receives_alerts` sends staff alerts to its members.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Service",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("code", fields.CharField(unique=True, max_length=64)),
                ("name", fields.CharField(max_length=200)),
                (
                    "required_skills",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "service",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A service the company offers, with the skills it requires.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Staff",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(max_length=200)),
                ("telegram_user_id", fields.BigIntField(null=True, unique=True)),
                ("telegram_username", fields.CharField(null=True, max_length=64)),
                ("phone", fields.CharField(null=True, max_length=20)),
                ("role", fields.CharField(max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "staff",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Office staff: dispatchers, owners, viewers.",
            },
            bases=["Model"],
        ),
    ]
