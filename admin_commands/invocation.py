"""What every admin command runs with: who asked, in which service, and how a refusal is kept."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from dispatch.model import Actor, HistoryAction, Permission
from models import tables as t
from models.transactions import Transactions
from models.uow import TortoiseUnitOfWork

from . import operations as ops
from .parsing import (
    USAGE,
)

log = logging.getLogger(__name__)

ASSIGN_ANYWAY = "Assign anyway"

Buttons = Sequence[Sequence[tuple[str, str]]]


@dataclass(frozen=True)
class Reply:
    """A command's answer: plain text and optional rows of `(label, callback data)` buttons."""

    text: str
    buttons: Buttons = ()


@dataclass(frozen=True)
class StaffContext:
    """What the staff commands need at run time, given by the app factory."""

    tx: Transactions
    timezone: str


@dataclass(frozen=True)
class Invocation:
    """One admin command as received: who, with which words, in which running service."""

    app: StaffContext
    staff: t.Staff
    args: list[str]

    @property
    def actor(self) -> Actor:
        """The staff member as the history actor."""
        return ops.staff_actor(self.staff)

    @property
    def timezone(self) -> str:
        """The company's zone for dates and times in texts."""
        return self.app.timezone


@dataclass(frozen=True)
class AdminCommand:
    """An admin command: its name, the permission it needs, what it does, one line of help."""

    name: str
    permission: Permission
    run: Callable[[Invocation], Awaitable[Reply]]
    summary: str
    takes_booking: bool = True

    @property
    def usage(self) -> str:
        """The usage line shown on an argument error."""
        return USAGE[self.name]


def refusal_text(staff: t.Staff, permission: Permission) -> str:
    """What a staff member without the permission is told."""
    return (
        f"Refused: your role ({staff.role}) does not allow {permission.value}. Nothing was changed."
    )


async def record_refusal(
    app: StaffContext,
    staff: t.Staff,
    permission: Permission,
    what: str,
    booking_id: int | None,
    args: Sequence[str] = (),
) -> None:
    """Log a refused command and, for an existing booking, add a `permission_refused` row."""
    log.warning(
        "permission refused: staff %s (%s, role %s) lacks %s for %s",
        staff.id,
        staff.name,
        staff.role,
        permission.value,
        what,
    )
    if booking_id is None:
        return
    actor = ops.staff_actor(staff)

    async def record(uow: TortoiseUnitOfWork) -> None:
        if await uow.get_booking(booking_id) is None:
            return
        await uow.add_history(
            booking_id,
            HistoryAction.PERMISSION_REFUSED,
            actor,
            channel=ops.CHANNEL,
            details={
                "command": what,
                "permission": permission.value,
                "role": staff.role,
                "text": " ".join(args)[:200],
            },
        )

    await app.tx.run(record)
