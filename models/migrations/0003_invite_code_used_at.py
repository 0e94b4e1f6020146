"""An invite code links one Telegram account once: when it did is stored, and a spent code is refused."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0002_history_append_only")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Fieldworker",
            name="invite_code_used_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
