"""Bodies of `/staff` and `/roles`."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from dispatch.model import Permission
from rest.schemas.common import (
    ApiModel,
    Name,
    OutModel,
    Phone,
    Tag,
    TelegramUserId,
    patch_model,
    unique,
)


class StaffIn(ApiModel):
    """A staff member; `role` names an existing role."""

    name: Name
    telegram_user_id: TelegramUserId | None = None
    telegram_username: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None
    ) = None
    phone: Phone | None = None
    role: Tag


StaffPatch = patch_model("StaffPatch", StaffIn)


class StaffOut(OutModel):
    """A stored staff member."""

    id: int
    name: str
    telegram_user_id: int | None
    telegram_username: str | None
    phone: str | None
    role: str


class RoleIn(ApiModel):
    """A role's permissions (PUT replaces them); `owner` always has all of them."""

    permissions: Annotated[list[Permission], AfterValidator(unique)]
    receives_alerts: bool = Field(
        default=False, description="members with `assign` get staff alerts by Telegram"
    )


class RoleOut(OutModel):
    """A stored role."""

    name: str
    permissions: list[Permission]
    receives_alerts: bool
