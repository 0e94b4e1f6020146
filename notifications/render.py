"""Events -> outbox rows, written inside the transaction that caused them.

Decides only *how* to tell people (channel, text, buttons); *whether* something happened is the
core's decision. A fieldworker's message goes by the first of their channels that reaches them.
"""

from __future__ import annotations

from typing import Any

from dispatch import events as ev
from dispatch.eligibility import haversine_km
from dispatch.model import ActorKind, Channel, Point
from dispatch.reachability import ChannelsOn, message_channel, telegram_chat
from models.rows import FieldworkerLike
from models.uow import TortoiseUnitOfWork
from models.views import contact_of
from notifications import (
    assist,
    booking_news,
    failures,
    fieldworker_messages,
    followups,
    job_changes,
    live_buttons,
    metrics,
    outbox_batch,
    reminders,
    request_channels,
    rescheduling,
    slots,
    staff_alerts,
)
from notifications import catalogue as cat
from notifications.customers import CustomerNotice, first_name, send_customer_notice
from notifications.job_context import load_job_context
from notifications.keyboards import attending_keyboard, request_keyboard
from notifications.links import LinkSigner
from notifications.templates import Rendered, format_when, timing

WITHDRAWN_TEMPLATES = {
    ev.WithdrawnBecause.TAKEN: "request_taken",
    ev.WithdrawnBecause.NOT_SELECTED: "request_not_selected",
    ev.WithdrawnBecause.ASSIGNED_BY_STAFF: "request_assigned_elsewhere",
    ev.WithdrawnBecause.CANCELLED: "request_cancelled",
    ev.WithdrawnBecause.EXPIRED: "request_expired",
    ev.WithdrawnBecause.RESCHEDULED: "request_rescheduled",
}
#: Withdrawals also worth an SMS (a taken request is not: the next reply is answered anyway).
SMS_WITHDRAWALS = {
    ev.WithdrawnBecause.NOT_SELECTED,
    ev.WithdrawnBecause.CANCELLED,
    ev.WithdrawnBecause.RESCHEDULED,
}


class OutboxRenderer:
    """Implements `models.uow.OutboxWriter`: renders each event of a unit of work to outbox rows."""

    _on_BookingChanged = booking_news.on_booking_changed
    _on_JobCompleted = booking_news.on_job_completed
    _on_CustomerStillWaiting = followups.customer_still_waiting
    _on_UnassignedSoon = followups.unassigned_soon
    _on_CustomerReplied = staff_alerts.customer_replied
    _on_AcceptanceWaiting = staff_alerts.acceptance_waiting
    _on_JobNobodyToAsk = staff_alerts.nobody_to_ask
    _on_AssignmentTimedOut = staff_alerts.assignment_timed_out
    _on_JobRescheduled = rescheduling.job_rescheduled
    _on_AppointmentRescheduled = rescheduling.appointment_rescheduled
    _on_RequestNudged = reminders.request_nudged
    _on_JobReminder = reminders.job_reminder
    _on_AttendanceAsked = reminders.attendance_asked
    _on_ProposalInvited = assist.proposal_invited
    _on_RescheduleProposed = assist.reschedule_proposed
    _on_RescheduleChosen = assist.reschedule_chosen
    _on_RescheduleOfferExpired = assist.offer_expired

    def __init__(
        self,
        *,
        telegram_enabled: bool,
        sms_enabled: bool,
        company_timezone: str,
        email_enabled: bool = False,
        links: LinkSigner | None = None,
        customer_email: bool = False,
    ):
        self.channels_on = ChannelsOn(
            telegram=telegram_enabled, sms=sms_enabled, email=email_enabled
        )
        self.sms_enabled = sms_enabled
        #: Signs the links of job request emails (None: email links off, so no email requests).
        self.links = links
        #: Customers with an address get their notices by email too (SMTP_URL is set).
        self.customer_email = customer_email
        self.company_timezone = company_timezone
        # The customer messages of each write in progress, by unit of work (the writes of
        # concurrent transactions interleave on this one renderer): (booking, template) -> notice.
        self._customer_notices: dict[int, dict[tuple[int, str], CustomerNotice]] = {}
        # Added to every row's payload: set on a copy that sends a refused message on (`failures`).
        self.marks: dict[str, Any] = {}

    async def write(self, uow: TortoiseUnitOfWork) -> None:
        """Render and store the messages every event of `uow` causes."""
        notices = self._customer_notices[id(uow)] = {}
        try:  # rows read once, outbox rows inserted together (`outbox_batch`)
            with outbox_batch.batching(uow.events):
                for event in uow.events:
                    # First the older buttons the event makes stale: none of its new ones is
                    # retired.
                    await live_buttons.retire_stale(uow.now(), event)
                    handler = getattr(self, f"_on_{type(event).__name__}", None)
                    if handler is not None:
                        await handler(uow, event)
                await outbox_batch.flush()  # before the customer notices' rows: ids in order
                for notice in notices.values():
                    await send_customer_notice(uow, notice, self.sms_enabled, self.customer_email)
                await outbox_batch.flush()
            await metrics.count_on_commit(uow)
        finally:
            del self._customer_notices[id(uow)]

    # -- helpers ---------------------------------------------------------------------------------

    async def _job_context(self, job_id: int) -> dict[str, Any]:
        return await outbox_batch.job_context(job_id, self._load_job_context)

    async def _load_job_context(self, job_id: int) -> dict[str, Any]:
        return await load_job_context(job_id)  # one plain query: it is on every press's path

    def _summary(self, ctx: dict[str, Any], tz: str) -> str:
        """One line about a job: service · when (in `tz`) · address."""
        return f"{ctx['service']} · {format_when(ctx['start'], ctx['end'], tz)} · {ctx['address']}"

    def _telegram_chat(self, fw: FieldworkerLike) -> int | None:
        if message_channel(contact_of(fw), self.channels_on) is Channel.TELEGRAM:
            return telegram_chat(contact_of(fw))
        return None

    def _sms_number(self, fw: FieldworkerLike) -> str | None:
        # SMS is a fallback even for a Telegram user (an update to a request sent by SMS).
        sms_only = ChannelsOn(telegram=False, sms=self.channels_on.sms)
        if message_channel(contact_of(fw), sms_only) is Channel.SMS:
            return fw.phone
        return None

    async def _queue(
        self,
        uow: TortoiseUnitOfWork,
        *,
        channel: str,
        recipient: str | int,
        template: str,
        body: str,
        booking_id: int | None,
        request_id: int | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        if payload and "reply_markup" in payload:
            payload = live_buttons.live(payload)  # the newest message with these buttons
        row = outbox_batch.OutboxRow(
            booking_id,
            channel,
            str(recipient),
            template,
            body,
            {**(payload or {}), **self.marks},
            request_id,
            uow.now(),
        )
        if not outbox_batch.add(row):  # inserted with the write's other rows
            await outbox_batch.insert([row])

    # A message to a fieldworker about a job, on the channel that reaches them.
    _tell_fieldworker = fieldworker_messages.tell_fieldworker

    def _fieldworker_values(self, fw: FieldworkerLike, ctx: dict[str, Any]) -> dict[str, Any]:
        """Merge values of a message to this fieldworker: the time in their zone, their name."""
        return {**timing(ctx["start"], ctx["end"], fw.timezone), "fieldworker": first_name(fw.name)}

    # -- events ----------------------------------------------------------------------------------

    async def _on_RequestSent(self, uow: TortoiseUnitOfWork, e: ev.RequestSent) -> None:
        await self._send_request(uow, e.request_id, e.fieldworker_id, e.job_id)

    async def _on_RequestPended(self, uow: TortoiseUnitOfWork, e: ev.RequestPended) -> None:
        await self._send_request(uow, e.request_id, e.fieldworker_id, e.job_id)

    def _request_values(self, fw: FieldworkerLike, ctx: dict[str, Any]) -> dict[str, Any]:
        """A job request's merge values for this fieldworker: the job, when, distance."""
        distance = None
        if fw.base_lat is not None and fw.base_lon is not None:
            job = ctx["job"]
            here, there = Point(fw.base_lat, fw.base_lon), Point(job.booking.lat, job.booking.lon)
            distance = round(haversine_km(here, there), 1)
        return {**ctx, **self._fieldworker_values(fw, ctx), "distance_km": distance}

    def _request_text(self, fw: FieldworkerLike, request_id: int, ctx: dict[str, Any]) -> Rendered:
        """A job request's Telegram message for this fieldworker (the job's details, distance):
        rendered once per job and time zone, their number, distance and name filled in."""
        values = self._request_values(fw, ctx)
        mine = {name: values.pop(name) for name in ("fieldworker", "distance_km")}
        return slots.render_with_slots(
            "job_request", cat.TELEGRAM, values, {"request_id": request_id, **mine}
        )

    async def _send_request(
        self, uow: TortoiseUnitOfWork, request_id: int, fieldworker_id: int, job_id: int
    ) -> None:
        fw = await outbox_batch.get_fieldworker(fieldworker_id)
        ctx = await self._job_context(job_id)
        marks: dict[str, Any] = {
            "fieldworker_id": fw.id,
            "job_request": True,
        }  # `failures`, if it fails
        contact = contact_of(fw)
        channel = message_channel(contact, self.channels_on)
        if channel is Channel.EMAIL:
            await request_channels.by_email(self, uow, fw, request_id, ctx, marks)
        elif channel is Channel.TELEGRAM and (chat := telegram_chat(contact)):  # _telegram_chat
            message = self._request_text(fw, request_id, ctx)
            await self._queue(
                uow,
                channel="telegram",
                recipient=chat,
                template="job_request",
                body=message.body,
                booking_id=ctx["booking_id"],
                request_id=request_id,
                payload={
                    "method": "send",
                    "reply_markup": request_keyboard(request_id),
                    **message.telegram_payload(),
                    **marks,
                },
            )
            if (await uow.settings()).sms_backup_for_requests:
                # The same request by SMS too; if this copy fails, it is not sent on by Telegram.
                marks["refused"] = [Channel.TELEGRAM.value]
                code = await outbox_batch.reply_code(request_id)
                await request_channels.by_sms(self, uow, fw, request_id, code, ctx, marks)
        else:
            code = await outbox_batch.reply_code(request_id)
            await request_channels.by_sms(self, uow, fw, request_id, code, ctx, marks)

    async def _on_RequestAccepted(self, uow: TortoiseUnitOfWork, e: ev.RequestAccepted) -> None:
        fw = await outbox_batch.get_fieldworker(e.fieldworker_id)
        ctx = await self._job_context(e.job_id)
        template = "request_accepted" if e.assigned else "request_accepted_manual"
        markup = attending_keyboard(e.job_id) if e.assigned else None
        await self._tell_fieldworker(
            uow,
            fw,
            template,
            ctx,
            request_id=e.request_id,
            edit=True,
            markup=markup,
            sms=e.actor.kind is not ActorKind.FIELDWORKER,
        )
        if e.actor.kind is not ActorKind.FIELDWORKER:
            await self._tell_fieldworker(uow, fw, "on_behalf", ctx, verb="accepted", sms=False)

    async def _on_RequestDeclined(self, uow: TortoiseUnitOfWork, e: ev.RequestDeclined) -> None:
        fw = await outbox_batch.get_fieldworker(e.fieldworker_id)
        ctx = await self._job_context(e.job_id)
        by_staff = e.actor.kind is not ActorKind.FIELDWORKER
        await self._tell_fieldworker(
            uow,
            fw,
            "request_no_longer_attending" if e.no_longer_attending else "request_declined",
            ctx,
            request_id=e.request_id,
            edit=True,
            sms=by_staff,
            reason=e.reason,
        )
        if by_staff:
            await self._tell_fieldworker(uow, fw, "on_behalf", ctx, verb="declined", sms=False)

    async def _on_RequestWithdrawn(self, uow: TortoiseUnitOfWork, e: ev.RequestWithdrawn) -> None:
        fw = await outbox_batch.get_fieldworker(e.fieldworker_id)
        ctx = await self._job_context(e.job_id)
        await self._tell_fieldworker(
            uow,
            fw,
            WITHDRAWN_TEMPLATES[e.because],
            ctx,
            request_id=e.request_id,
            edit=True,
            sms=e.because in SMS_WITHDRAWALS,
        )

    async def _on_JobAssigned(self, uow: TortoiseUnitOfWork, e: ev.JobAssigned) -> None:
        ctx = await self._job_context(e.job_id)
        fw = await outbox_batch.get_fieldworker(e.fieldworker_id)
        if not e.via_accept and assist.chosen_in(uow, e.job_id) is None:
            # Staff assigned or confirmed. An edit alerts nobody, so a new message carries the
            # news (and the No longer attending button); their old request message, if any,
            # loses its stale buttons.
            if e.request_id is not None:
                await self._tell_fieldworker(
                    uow,
                    fw,
                    "job_assigned_to_you",
                    ctx,
                    request_id=e.request_id,
                    edit=True,
                    sms=False,
                )
            await self._tell_fieldworker(
                uow, fw, "job_assigned_to_you", ctx, markup=attending_keyboard(e.job_id)
            )
        if e.previous_fieldworker_id is not None:
            previous = await outbox_batch.fieldworker(e.previous_fieldworker_id)
            if previous is not None:
                await self._tell_fieldworker(uow, previous, "job_taken_from_you", ctx)
        notify = (await uow.settings()).customer_notify
        if e.previous_fieldworker_id is None:
            template, enabled = "customer_assigned_sms", notify.assigned
        else:
            template, enabled = "customer_fieldworker_changed_sms", notify.fieldworker_changed
        await self._notify_customer(uow, ctx, fw, template, enabled=enabled)

    async def _notify_customer(
        self,
        uow: TortoiseUnitOfWork,
        ctx: dict[str, Any],
        fw: FieldworkerLike | None,
        template: str,
        *,
        enabled: bool,
        **values: Any,
    ) -> None:
        """Tell the booking's customer about an event (SMS, and a `customer_notified` row).

        The one way to message a customer: at most one message per event (template) and booking
        per transaction, however many of its jobs the event concerns (CONTRACT §6). Each call adds
        its job to that message; `write` sends it once every event is rendered, listing the jobs'
        services, fieldworkers and times together ("Ben will do your Plumbing and Painting").
        `ctx` is a `_job_context` (or at least `booking_id`); `values` are more merge fields.
        """
        if not enabled:
            return
        key = (ctx["booking_id"], template)
        notices = self._customer_notices[id(uow)]
        notice = notices.setdefault(key, CustomerNotice(ctx["booking_id"], template))
        if fw is not None:
            values["fieldworker"] = first_name(fw.name)
        if "service" in ctx:
            values["service"] = ctx["service"]
        if "start" in ctx and "end" in ctx:
            values.update(timing(ctx["start"], ctx["end"], self.company_timezone))
        notice.add(ctx.get("job_id"), fw.id if fw is not None else None, **values)

    # When a job leaves its fieldworker or the booking is cancelled (`notifications.job_changes`).
    _on_JobUnassigned = job_changes.job_unassigned
    _on_JobCancelled = job_changes.job_cancelled
    _on_FieldworkerCancelled = job_changes.fieldworker_cancelled
    _on_BookingCancelled = job_changes.booking_cancelled

    # Alerts to staff about a job (`notifications.staff_alerts`); refused messages (`failures`).
    _alert_staff = staff_alerts.alert_staff
    _on_DeliveryFailed = failures.delivery_failed
