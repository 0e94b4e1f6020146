"""Staff's own message templates, one per event and channel (CONTRACT §4 `/templates`)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0006_outbox_attempts")]

    initial = False

    operations = [
        ops.CreateModel(
            name="MessageTemplate",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("event", fields.CharField(max_length=64)),
                ("channel", fields.CharField(max_length=16)),
                ("subject", fields.TextField(null=True, unique=False)),
                ("body", fields.TextField(unique=False)),
                ("parse_mode", fields.CharField(null=True, max_length=16)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "message_template",
                "app": "models",
                "unique_together": (("event", "channel"),),
                "pk_attr": "id",
                "table_description": "A template staff saved for one event and channel, replacing the default.",
            },
            bases=["Model"],
        ),
    ]
