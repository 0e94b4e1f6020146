"""The customer's answer to a reschedule offer (Reschedule Assist, CONTRACT §5, §6).

The customer answers the SMS listing the proposed times with a number. It is read against the
newest offer sent to their phone; an open one moves the appointment to that time
(`dispatch.rescheduling.reschedule`) and gives the job to the proposer when they are still eligible
then, otherwise the move dispatches it again. Any other answer is refused in words the adapter
chooses (`ChoiceOutcome`). An offer left unanswered expires (`offer_expired`, a timer flow).
How offers are made is `dispatch.assist`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from dispatch.assignment import assign
from dispatch.assist import CUSTOMER, fieldworker_schedule
from dispatch.commands import AppointmentMove
from dispatch.deadlines import TimerView
from dispatch.eligibility import evaluate
from dispatch.errors import RetryCommand
from dispatch.events import RescheduleChosen, RescheduleOfferExpired
from dispatch.model import OPEN_JOB_STATUSES, BookingStatus, Channel, HistoryAction, Interval
from dispatch.offers import OfferStatus, OfferView
from dispatch.ports import BookingView, JobView, UnitOfWork
from dispatch.rescheduling import reschedule
from dispatch.steps import job_spec, load_job


async def offer_expired(uow: UnitOfWork, timer: TimerView) -> bool:
    """The timer flow of `TimerKind.OFFER_EXPIRY`: an offer still open expires (the proposer is
    told); False when it was answered, replaced or withdrawn before."""
    offer = await uow.get_offer(timer.subject_id)
    if offer is None or not await uow.close_offer(offer.id, OfferStatus.EXPIRED):
        return False
    uow.emit(RescheduleOfferExpired(offer.booking_id, offer.id, offer.job_id, offer.fieldworker_id))
    return True


class ChoiceOutcome(StrEnum):
    """What a customer's SMS did to their newest offer."""

    NO_OFFER = "no_offer"  # no offer it answers: the SMS is not about one
    NOT_A_CHOICE = "not_a_choice"  # an open offer, but the text names no number
    OUT_OF_RANGE = "out_of_range"  # a number the offer does not list
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"  # the job was given to someone, or the booking closed
    ALREADY_CHOSEN = "already_chosen"
    SLOT_PASSED = "slot_passed"  # that time has begun: choose another
    MOVED = "moved"  # the appointment moved to the chosen time


@dataclass(frozen=True)
class Choice:
    """The outcome of a customer's answer, with the offer it was read against."""

    outcome: ChoiceOutcome
    offer: OfferView | None = None
    slot: Interval | None = None
    assigned: bool = False


async def choose(
    uow: UnitOfWork, phone: str, number: int | None, channel: Channel = Channel.SMS
) -> Choice:
    """A customer's SMS answer: `number` is the slot they name (from 1), None for other text.

    It is read against the newest offer sent to `phone` (an older one was superseded). An open one
    moves the appointment to the chosen slot (`dispatch.rescheduling.reschedule`), after giving the
    job to the proposer when they are eligible at that time; otherwise the move dispatches it again.
    Text that is no choice answers an open offer only (`NOT_A_CHOICE`); any other SMS is
    `NO_OFFER`, left to whoever reads customers' messages.
    """
    offer = await uow.newest_offer_to(phone)
    closed = await _unanswerable(uow, offer, number)
    if closed is not None:
        return closed
    assert offer is not None and number is not None
    job, booking = await load_job(uow, offer.job_id, lock=True)
    if booking.status is not BookingStatus.OPEN or job.status not in OPEN_JOB_STATUSES:
        await uow.close_offer(offer.id, OfferStatus.WITHDRAWN)
        return Choice(ChoiceOutcome.WITHDRAWN, offer)
    slot = offer.slots[number - 1]
    if slot.start <= uow.now():
        return Choice(ChoiceOutcome.SLOT_PASSED, offer, slot)
    if not await uow.close_offer(offer.id, OfferStatus.CHOSEN, chosen=number):
        raise RetryCommand()
    return await _move(uow, offer, job, booking, number, channel)


_CLOSED = {
    OfferStatus.EXPIRED: ChoiceOutcome.EXPIRED,
    OfferStatus.WITHDRAWN: ChoiceOutcome.WITHDRAWN,
    OfferStatus.CHOSEN: ChoiceOutcome.ALREADY_CHOSEN,
    OfferStatus.SUPERSEDED: ChoiceOutcome.WITHDRAWN,
}


async def _unanswerable(
    uow: UnitOfWork, offer: OfferView | None, number: int | None
) -> Choice | None:
    """The outcome of an answer that cannot choose (no open offer, no number, out of range, too
    late), or None when `number` names a slot of an open offer. An offer found past its deadline
    expires here (its timer may not have fired yet)."""
    if offer is None or (number is None and offer.status is not OfferStatus.OPEN):
        return Choice(ChoiceOutcome.NO_OFFER, offer)
    if offer.status is OfferStatus.OPEN and uow.now() >= offer.expires_at:
        if number is None:
            return Choice(ChoiceOutcome.NO_OFFER, offer)
        if await uow.close_offer(offer.id, OfferStatus.EXPIRED):
            event = RescheduleOfferExpired(
                offer.booking_id, offer.id, offer.job_id, offer.fieldworker_id
            )
            uow.emit(event)
        return Choice(ChoiceOutcome.EXPIRED, offer)
    if offer.status in _CLOSED:
        return Choice(_CLOSED[offer.status], offer)
    if number is None:
        return Choice(ChoiceOutcome.NOT_A_CHOICE, offer)
    if not 1 <= number <= len(offer.slots):
        return Choice(ChoiceOutcome.OUT_OF_RANGE, offer)
    return None


async def _eligible_then(
    uow: UnitOfWork, fieldworker_id: int, job: JobView, booking: BookingView, slot: Interval
) -> bool:
    """Whether the fieldworker may take the job once it is at `slot` (every eligibility rule)."""
    profile = await fieldworker_schedule(uow, fieldworker_id, job, slot)
    settings = await uow.settings()
    skills = await uow.service_skills(job.service_code) or frozenset()
    moved = replace(job, appointment=slot)
    result = evaluate(
        job_spec(moved, booking),
        [profile],
        travel_radius_km=settings.travel_radius_km,
        required_services_skills=skills,
    )
    return fieldworker_id in result.eligible_ids()


async def _move(
    uow: UnitOfWork,
    offer: OfferView,
    job: JobView,
    booking: BookingView,
    number: int,
    channel: Channel,
) -> Choice:
    slot = offer.slots[number - 1]
    fw = offer.fieldworker_id
    eligible = await _eligible_then(uow, fw, job, booking, slot)
    if eligible:
        # Theirs first (checked at the new time above), so that the move keeps them on it
        # instead of asking everybody else at the new time.
        await assign(uow, job.id, fw, CUSTOMER, channel, force=True)
    await reschedule(
        uow,
        booking.id,
        [AppointmentMove(job.appointment_id, slot.start, slot.end)],
        CUSTOMER,
        channel,
    )
    await uow.add_history(
        booking.id,
        HistoryAction.RESCHEDULE_CHOSEN,
        CUSTOMER,
        job_id=job.id,
        channel=channel,
        details={
            "offer_id": offer.id,
            "chosen": number,
            "start": slot.start.isoformat(),
            "end": slot.end.isoformat(),
            "fieldworker_id": fw,
            "assigned": eligible,
        },
    )
    uow.emit(RescheduleChosen(booking.id, offer.id, job.id, fw, number, slot, eligible))
    return Choice(ChoiceOutcome.MOVED, offer, slot, eligible)
