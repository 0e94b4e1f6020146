"""Bookings: create one (one job per appointment and service), change its details, cancel it."""

from __future__ import annotations

from dispatch import timers
from dispatch.assignment import assign
from dispatch.assist import withdraw_offers
from dispatch.commands import BookingChanges
from dispatch.errors import Conflict, Invalid
from dispatch.events import (
    BookingCancelled,
    BookingChanged,
    BookingCreated,
    Holder,
    JobCancelled,
    WithdrawnBecause,
)
from dispatch.model import (
    OPEN_JOB_STATUSES,
    Actor,
    BookingStatus,
    Channel,
    DispatchMode,
    HistoryAction,
    JobStatus,
    RequestStatus,
)
from dispatch.offering import dispatch_job
from dispatch.ports import NewBooking, UnitOfWork
from dispatch.steps import load_booking, withdraw_others


async def create_booking(
    uow: UnitOfWork,
    new: NewBooking,
    actor: Actor,
    channel: Channel,
    *,
    fieldworker_id: int | None = None,
) -> int:
    """Create a booking with one job per (appointment, service) and start dispatching it.

    With `fieldworker_id` every job is assigned to that fieldworker at once (both modes; staff
    chose, so eligibility is not enforced). Otherwise, in `auto` mode every eligible fieldworker is
    asked at once; in `manual` mode nothing is sent until staff send requests.
    """
    for code in new.services:
        if await uow.service_skills(code) is None:
            raise Invalid("unknown_service", f"no service with code {code!r}", field="services")
    if fieldworker_id is not None and not await uow.fieldworker_exists(fieldworker_id):
        raise Invalid(
            "fieldworker_not_found",
            f"fieldworker {fieldworker_id} does not exist",
            field="fieldworker_id",
        )
    booking_id, job_ids = await uow.insert_booking(new)
    await uow.add_history(
        booking_id,
        HistoryAction.BOOKING_CREATED,
        actor,
        channel=channel,
        to_status=BookingStatus.OPEN,
        details={"jobs": job_ids, "dispatch_mode": new.dispatch_mode.value},
    )
    uow.emit(BookingCreated(booking_id))
    await timers.arm_for_booking(uow, booking_id, await uow.jobs_of_booking(booking_id))
    for job_id in job_ids:
        if fieldworker_id is not None:
            await assign(uow, job_id, fieldworker_id, actor, channel, force=True)
        elif new.dispatch_mode is DispatchMode.AUTO:
            await dispatch_job(uow, job_id, actor, channel)
    return booking_id


async def cancel_booking(uow: UnitOfWork, booking_id: int, actor: Actor, channel: Channel) -> bool:
    """Cancel a booking and its open jobs; returns False when it was already cancelled."""
    booking = await load_booking(uow, booking_id)
    if booking.status is BookingStatus.CANCELLED:
        return False
    if booking.status is BookingStatus.COMPLETED:
        raise Conflict("booking_not_open", f"booking {booking_id} is completed")
    for job in await uow.jobs_of_booking(booking_id):
        locked = await uow.lock_job(job.id)
        assert locked is not None
        if locked.status in (JobStatus.COMPLETED, JobStatus.CANCELLED):
            continue
        if locked.status is JobStatus.ASSIGNED and locked.fieldworker_id is not None:
            mine = await uow.find_request(locked.id, locked.fieldworker_id)
            if mine is None or mine.status is not RequestStatus.ACCEPTED:
                # Assigned directly (no request to withdraw): tell them all the same.
                uow.emit(JobCancelled(booking_id, locked.id, locked.fieldworker_id))
        await uow.move_job(
            locked.id, [locked.status], JobStatus.CANCELLED, fieldworker_id=locked.fieldworker_id
        )
        await withdraw_others(
            uow, job.id, keep=None, because=WithdrawnBecause.CANCELLED, actor=actor
        )
        await withdraw_offers(uow, job.id)
    await uow.set_booking_status(booking_id, BookingStatus.CANCELLED)
    await uow.add_history(
        booking_id,
        HistoryAction.BOOKING_CANCELLED,
        actor,
        from_status=booking.status,
        to_status=BookingStatus.CANCELLED,
        channel=channel,
    )
    uow.emit(BookingCancelled(booking_id))
    return True


async def change_booking(
    uow: UnitOfWork, booking_id: int, changes: BookingChanges, actor: Actor, channel: Channel
) -> None:
    """Change a booking's address, notes or location, and/or cancel it.

    Changes to a booking that is no longer open are refused (`booking_not_open`), and so is
    anything on a completed one; cancelling a cancelled booking again changes nothing. What really
    changed is recorded once in the history (`booking_changed`, with from/to) and announced to the
    fieldworkers holding an open request for one of its jobs or an assigned job of it
    (`BookingChanged`), unless the same change cancels the booking (they hear that instead).
    """
    booking = await load_booking(uow, booking_id)
    details = (changes.address, changes.notes, changes.location) != (None, None, None)
    if booking.status is BookingStatus.COMPLETED or (
        details and booking.status is not BookingStatus.OPEN
    ):
        raise Conflict("booking_not_open", f"booking {booking_id} is {booking.status.value}")
    address = booking.address if changes.address is None else changes.address
    notes = booking.notes if changes.notes is None else changes.notes
    location = changes.location or booking.location
    diff: dict[str, object] = {}
    if address != booking.address:
        diff["address"] = {"from": booking.address, "to": address}
    if notes != booking.notes:
        diff["notes"] = {"from": booking.notes, "to": notes}
    if location != booking.location:
        diff["location"] = {
            "from": {"lat": booking.location.lat, "lon": booking.location.lon},
            "to": {"lat": location.lat, "lon": location.lon},
        }
    if diff:
        await uow.update_booking_details(
            booking_id, address=address, notes=notes, location=location
        )
        await uow.add_history(
            booking_id,
            HistoryAction.BOOKING_CHANGED,
            actor,
            channel=channel,
            details={"changes": diff},
        )
        if not changes.cancel:
            uow.emit(BookingChanged(booking_id, tuple(diff), await holders_of(uow, booking_id)))
    if changes.cancel:
        await cancel_booking(uow, booking_id, actor, channel)


async def holders_of(uow: UnitOfWork, booking_id: int) -> tuple[Holder, ...]:
    """Who holds a job of the booking: its assigned fieldworkers, and for the jobs still open
    those with a pending request (or an accepted one, waiting for staff to confirm)."""
    holders: list[Holder] = []
    for job in await uow.jobs_of_booking(booking_id):
        if job.status is JobStatus.ASSIGNED and job.fieldworker_id is not None:
            holders.append(Holder(job.fieldworker_id, job.id))
        elif job.status in OPEN_JOB_STATUSES:
            for r in await uow.requests_of_job(job.id):
                if r.status is RequestStatus.PENDING:
                    holders.append(Holder(r.fieldworker_id, job.id, pending_request_id=r.id))
                elif r.status is RequestStatus.ACCEPTED:
                    holders.append(Holder(r.fieldworker_id, job.id))
    return tuple(holders)
