"""Factories for database-backed tests: settings, services, fieldworkers, staff and bookings.

Reference rows (services, fieldworkers, roles, staff) are written with tortoise, as an import or the
REST API would have stored them; bookings go through the core (`dispatch.bookings.create_booking`)
in one `models.uow.Transactions().run(...)`, as every adapter does. The defaults describe one
ordinary case, plumbing in central Berlin on Tuesday 1 December 2026 at 09:00 UTC, so a test names
only what matters to it. Each factory needs the `db` fixture (a connected, migrated database).
`SmsSink` stands in for the twilio client where a test reads what would have been texted.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from dispatch import bookings
from dispatch.model import Actor, Channel, DispatchMode, Interval, Point
from dispatch.ports import NewBooking
from dispatch.settings import CompanySettings
from models import tables as t
from models.transactions import Transactions
from models.views import utcnow
from notifications.render import OutboxRenderer

START = datetime(2026, 12, 1, 9, tzinfo=UTC)
HERE = Point(52.52, 13.40)  # Berlin, Alexanderplatz: the default job site and fieldworker base
PLUMB = "plumb"

# Invite codes are unique in the table; a counter keeps every default one distinct.
_serial = itertools.count(1)


def transactions(
    *, outbox: bool = False, clock: Callable[[], datetime] = utcnow, email: bool = False
) -> Transactions:
    """A transaction runner; with `outbox`, events become outbox rows as in production.

    With `email` the email channel is on too (as with `SMTP_URL` set).
    """
    if not outbox:
        return Transactions(clock=clock, email_enabled=email)
    renderer = OutboxRenderer(
        telegram_enabled=True, sms_enabled=True, company_timezone="UTC", email_enabled=email
    )
    return Transactions(renderer, sms_enabled=True, clock=clock, email_enabled=email)


async def save_settings(**changes: Any) -> CompanySettings:
    """Store the company settings: the CONTRACT defaults with `changes` applied."""
    settings = CompanySettings.model_validate(changes)
    await t.CompanySettingsRow.update_or_create(
        id=1, defaults={"data": settings.model_dump(mode="json")}
    )
    return settings


async def add_service(
    code: str = PLUMB, name: str = "Plumbing", *, skills: Sequence[str] = ()
) -> t.Service:
    """A service the company offers."""
    return await t.Service.create(code=code, name=name, required_skills=list(skills))


async def add_fieldworker(
    name: str = "Worker",
    *,
    telegram: int | None = None,
    at: Point | None = HERE,
    services: Sequence[str] = (PLUMB,),
    **columns: Any,
) -> t.Fieldworker:
    """A fieldworker based `at` a point, doing `services`.

    With `telegram` they have linked Telegram (that user id and private chat) and get requests
    there; without it they are reachable on no channel unless `columns` say otherwise. Any other
    column (phone, skills, status, working_hours, ...) can be given as is.
    """
    columns.setdefault("invite_code", f"invite{next(_serial)}")
    columns.setdefault("channels", ["telegram"] if telegram is not None else [])
    if telegram is not None:
        columns.setdefault("telegram_user_id", telegram)
        columns.setdefault("telegram_chat_id", telegram)
    return await t.Fieldworker.create(
        name=name,
        services=list(services),
        base_lat=at.lat if at else None,
        base_lon=at.lon if at else None,
        **columns,
    )


async def add_fieldworkers(n: int, *, telegram: int, **columns: Any) -> list[t.Fieldworker]:
    """`n` alike fieldworkers, "Worker 0" to "Worker n-1", on Telegram chats `telegram + i`."""
    return [
        await add_fieldworker(f"Worker {i}", telegram=telegram + i, **columns) for i in range(n)
    ]


async def add_role(
    name: str, permissions: Sequence[str], *, receives_alerts: bool = False
) -> t.Role:
    """A staff role with these permissions."""
    return await t.Role.create(
        name=name, permissions=list(permissions), receives_alerts=receives_alerts
    )


async def add_staff(name: str, *, role: str, telegram: int | None = None) -> t.Staff:
    """A staff member with a role, on Telegram as user `telegram`."""
    return await t.Staff.create(name=name, role=role, telegram_user_id=telegram)


async def create_booking(
    tx: Transactions | None = None,
    mode: DispatchMode = DispatchMode.AUTO,
    *,
    starts: Sequence[datetime] = (START,),
    hours: float = 2,
    at: Point = HERE,
    services: Sequence[str] = (PLUMB,),
    customer: str = "Carol Client",
    phone: str | None = "+4915112345678",
    email: str | None = None,
    address: str = "Alexanderplatz 1",
    actor: Actor | None = None,
    channel: Channel = Channel.API,
    fieldworker_id: int | None = None,
) -> int:
    """A booking created through the core (one appointment per start); returns its id.

    In `auto` mode the core asks every eligible, reachable fieldworker at once; with
    `fieldworker_id` every job is assigned to them directly.
    """
    new = NewBooking(
        customer,
        phone,
        email,
        address,
        at,
        tuple(services),
        tuple(Interval(s, s + timedelta(hours=hours)) for s in starts),
        mode,
    )
    by = actor or Actor.system()
    return await (tx or transactions()).run(
        lambda uow: bookings.create_booking(uow, new, by, channel, fieldworker_id=fieldworker_id)
    )


@dataclass
class SmsSink:
    """Stands in for the twilio client: `messages.create_async` records and answers a sid."""

    sent: list[dict[str, Any]] = field(default_factory=list)

    @property
    def messages(self) -> SmsSink:
        return self

    async def create_async(self, **kwargs: Any) -> Any:
        self.sent.append(kwargs)
        return SimpleNamespace(sid=f"SM{len(self.sent):032d}")
