"""A job request by email or by SMS (part of `notifications.render.OutboxRenderer`).

Telegram requests are written by the renderer itself; these are the other two ways, kept here so
the renderer stays small. Both carry the `marks` that `notifications.failures` reads when the
message fails (the fieldworker, that it is a job request, the channels that refused it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from models.rows import FieldworkerLike
from models.uow import TortoiseUnitOfWork
from notifications import catalogue as cat
from notifications.templates import Rendered, render

if TYPE_CHECKING:
    from notifications.render import OutboxRenderer


async def by_email(
    renderer: OutboxRenderer,
    uow: TortoiseUnitOfWork,
    fw: FieldworkerLike,
    request_id: int,
    ctx: dict[str, Any],
    marks: dict[str, Any],
) -> None:
    """The request as an email with its signed Accept and Decline links."""
    if renderer.links is None or not fw.email:
        return
    email = render(
        "job_request",
        cat.EMAIL,
        **renderer._request_values(fw, ctx),
        request_id=request_id,
        accept_url=renderer.links.url(request_id, "accept"),
        decline_url=renderer.links.url(request_id, "decline"),
    )
    await renderer._queue(
        uow,
        channel="email",
        recipient=fw.email,
        template="job_request_email",
        body=email.body,
        booking_id=ctx["booking_id"],
        request_id=request_id,
        payload={**email.email_payload(), **marks},
    )


async def by_sms(
    renderer: OutboxRenderer,
    uow: TortoiseUnitOfWork,
    fw: FieldworkerLike,
    request_id: int,
    code: int,
    ctx: dict[str, Any],
    marks: dict[str, Any],
) -> None:
    """The request as an SMS ending with its reply code `code`, when SMS reaches them."""
    number = renderer._sms_number(fw)
    if number is None:
        return
    values = renderer._request_values(fw, ctx)
    text = render("job_request", cat.SMS, **values, request_id=request_id, code=code)
    await renderer._queue(
        uow,
        channel="sms",
        recipient=number,
        template="job_request_sms",
        body=text.body,
        booking_id=ctx["booking_id"],
        request_id=request_id,
        payload=marks,
    )


async def notice_by_email(
    renderer: OutboxRenderer,
    uow: TortoiseUnitOfWork,
    fw: FieldworkerLike,
    template: str,
    email: Rendered,
    ctx: dict[str, Any],
    request_id: int | None,
) -> None:
    """A notice about a job (taken, assigned, withdrawn, ...) to a fieldworker who uses email."""
    if not fw.email:
        return
    await renderer._queue(
        uow,
        channel="email",
        recipient=fw.email,
        template=template,
        body=email.body,
        booking_id=ctx["booking_id"],
        request_id=request_id,
        payload={**email.email_payload(), "fieldworker_id": fw.id},
    )
