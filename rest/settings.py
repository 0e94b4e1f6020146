"""Views of `/settings`: the company settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from dispatch import timers
from dispatch.settings import CompanySettings
from models import tables as t
from models.uow import TortoiseUnitOfWork
from models.views import load_settings
from rest.errors import validation_error
from rest.routing import Call, model_response


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


async def get_settings(_call: Call) -> web.StreamResponse:
    """The company settings (defaults until saved)."""
    return model_response(CompanySettings, (await load_settings()).model_dump())


async def put_settings(call: Call) -> web.StreamResponse:
    """Change some settings; keys left out (also inside `customer_notify`) keep their values."""
    changes = call.body.model_dump(mode="json", exclude_unset=True, exclude={"actor_staff_id"})

    async def work(uow: TortoiseUnitOfWork) -> CompanySettings:
        current = await load_settings()
        try:
            new = CompanySettings.model_validate(_merge(current.model_dump(mode="json"), changes))
        except ValidationError as exc:
            raise validation_error(exc) from None
        data = new.model_dump(mode="json")
        if not await t.CompanySettingsRow.filter(id=1).update(data=data):
            await t.CompanySettingsRow.create(id=1, data=data)
        await timers.settings_changed(uow, current, new)  # pending deadlines follow the settings
        return new

    return model_response(CompanySettings, (await call.ctx.tx.run(work)).model_dump())
