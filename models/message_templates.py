"""The staff's own message templates (CONTRACT §4 `/templates`): one row per event and channel.

A missing row means the shipped default (`notifications/default_templates`) is in force.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class MessageTemplate(Model):
    """A template staff saved for one event and channel, replacing the default."""

    id = fields.IntField(primary_key=True)
    event = fields.CharField(max_length=64)
    channel = fields.CharField(max_length=16)
    subject = fields.TextField(null=True)
    body = fields.TextField()
    parse_mode = fields.CharField(max_length=16, null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "message_template"
        unique_together = (("event", "channel"),)
