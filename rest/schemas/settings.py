"""Bodies of `/settings`."""

from __future__ import annotations

from pydantic import Field

from dispatch.settings import CompanySettings
from rest.schemas.common import Id, patch_model

#: PUT /settings: any subset of the settings (nested `customer_notify` merges too).
SettingsUpdate = patch_model(
    "SettingsUpdate",
    CompanySettings,
    actor_staff_id=(Id | None, Field(default=None, description="staff member acting")),
)
