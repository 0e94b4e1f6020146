"""The outbox records each attempt (when, by which process) before a provider call; claims are
renewed while work is alive (heartbeat); a callback query is answered once."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0005_fieldworker_search")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Notification",
            name="holder",
            field=fields.CharField(
                null=True,
                max_length=64,
            ),
        ),
        ops.AddField(
            model_name="Notification",
            name="heartbeat_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name="Notification",
            name="attempt_started_at",
            field=fields.DatetimeField(
                null=True,
                auto_now=False,
                auto_now_add=False,
            ),
        ),
        ops.AddField(
            model_name="InboundEvent",
            name="holder",
            field=fields.CharField(
                null=True,
                max_length=64,
            ),
        ),
        ops.CreateModel(
            name="CallbackAnswer",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("query_id", fields.CharField(unique=True, max_length=64)),
                ("status", fields.CharField(default="answering", max_length=16)),
                ("holder", fields.CharField(null=True, max_length=64)),
                (
                    "answered_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "created_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True),
                ),
            ],
            options={
                "table": "callback_answer",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A callback query we answered, or began to: a query is answered once, even across a crash.",
            },
            bases=["Model"],
        ),
    ]
