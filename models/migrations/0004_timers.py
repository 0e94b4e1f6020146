"""Deadlines become rows (timer), Reschedule Assist offers are stored, and a day-before confirmation is recorded on its job."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0003_invite_code_used_at")]

    initial = False

    operations = [
        ops.CreateModel(
            name="RescheduleOffer",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("booking_id", fields.IntField(db_index=True)),
                ("job_id", fields.IntField(db_index=True)),
                ("fieldworker_id", fields.IntField()),
                (
                    "slots",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("status", fields.CharField(default="open", db_index=True, max_length=16)),
                ("customer_phone", fields.CharField(null=True, db_index=True, max_length=20)),
                ("chosen", fields.IntField(null=True)),
                (
                    "expires_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
                ("closed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "reschedule_offer",
                "app": "models",
                "pk_attr": "id",
                "table_description": "Times a fieldworker proposed for a job they could not take (Reschedule Assist).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Timer",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("kind", fields.CharField(max_length=32)),
                ("subject_id", fields.IntField()),
                ("booking_id", fields.IntField(db_index=True)),
                ("anchor_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "due_at",
                    fields.DatetimeField(
                        null=True, db_index=True, auto_now=False, auto_now_add=False
                    ),
                ),
                ("status", fields.CharField(default="pending", db_index=True, max_length=16)),
                ("fired_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "timer",
                "app": "models",
                "unique_together": (("kind", "subject_id"),),
                "pk_attr": "id",
                "table_description": "A deadline: `kind` names the flow, `subject_id` its booking, appointment, request or job.",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Job",
            name="confirmed_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
