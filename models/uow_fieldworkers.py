"""The fieldworker side of the unit of work: who they are and how they are reached."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from dispatch.ports import (
    FieldworkerIdentity,
    Identifier,
    ReplyingCustomer,
)
from dispatch.reachability import ChannelsOn, Contact, is_reachable
from models import rows
from models import tables as t
from models.views import (
    contact_of,
)


class FieldworkerStore:
    """Port methods about fieldworkers' identity and contact; mixed into `TortoiseUnitOfWork`."""

    channels_on: ChannelsOn
    _now: datetime

    async def set_sms_opt_out(self, phone: str, opted_out: bool) -> None:
        """Record that every fieldworker and customer with this phone opted out (or back in)."""
        await t.Fieldworker.filter(phone=phone).update(sms_opt_out=opted_out)
        await t.Customer.filter(phone=phone).update(sms_opt_out=opted_out)

    async def customer_by_phone(self, phone: str) -> ReplyingCustomer | None:
        """The customer with this phone and the booking their message most likely concerns."""
        upcoming = (
            await t.Appointment.filter(
                booking__customer__phone=phone, booking__status="open", end__gte=self._now
            )
            .order_by("start", "id")
            .first()
        )
        booking: t.Booking | None
        if upcoming is not None:
            booking = await t.Booking.get(id=upcoming.booking_id).select_related("customer")
        else:
            booking = (
                await t.Booking.filter(customer__phone=phone)
                .order_by("-id")
                .select_related("customer")
                .first()
            )
        if booking is None:
            return None
        customer = booking.customer
        return ReplyingCustomer(customer.id, customer.name, customer.sms_opt_out, booking.id)

    async def note_customer_message(self, phone: str, gap: timedelta) -> bool:
        """Record a customer's message now (`conversation` row `customer_sms`); True when it
        starts a conversation."""
        row = await t.Conversation.get_or_none(channel="customer_sms", address=phone)
        now = self._now.isoformat()
        if row is None:
            await t.Conversation.create(
                channel="customer_sms", address=phone, state="customer", data={"last_at": now}
            )
            return True
        last = row.data.get("last_at")
        starts = last is None or self._now - datetime.fromisoformat(str(last)) >= gap
        row.data = {"last_at": now}
        await row.save(update_fields=["data", "updated_at"])
        return starts

    async def reachable_fieldworkers(self, fieldworker_ids: Collection[int]) -> set[int]:
        """Ids with a linked Telegram chat, or (SMS on) a phone that has not opted out."""
        if not fieldworker_ids:
            return set()
        found = await rows.fieldworker_rows(set(fieldworker_ids))
        return {i for i, fw in found.items() if is_reachable(contact_of(fw), self.channels_on)}

    async def fieldworker_exists(self, fieldworker_id: int) -> bool:
        """True when the fieldworker exists."""
        return await t.Fieldworker.filter(id=fieldworker_id).exists()

    async def contact(self, fieldworker_id: int) -> Contact | None:
        """How the fieldworker can be reached, or None when unknown."""
        fw = await t.Fieldworker.get_or_none(id=fieldworker_id)
        return contact_of(fw) if fw is not None else None

    async def holder_of(
        self, identifier: Identifier, value: str | int
    ) -> FieldworkerIdentity | None:
        """The fieldworker holding this phone, Telegram user id or invite code (unique columns)."""
        fw = await t.Fieldworker.filter(**{identifier.value: value}).first()
        if fw is None:
            return None
        return FieldworkerIdentity(
            id=fw.id,
            name=fw.name,
            phone=fw.phone,
            invite_code=fw.invite_code,
            telegram_user_id=fw.telegram_user_id,
            telegram_chat_id=fw.telegram_chat_id,
            telegram_username=fw.telegram_username,
            channels=tuple(fw.channels or ()),
            invite_code_used=fw.invite_code_used_at is not None,
        )

    async def set_telegram(
        self, fieldworker_id: int, user_id: int | None, chat_id: int | None, username: str | None
    ) -> None:
        """Store the fieldworker's Telegram user id, chat id and username."""
        await t.Fieldworker.filter(id=fieldworker_id).update(
            telegram_user_id=user_id, telegram_chat_id=chat_id, telegram_username=username
        )

    async def set_channels(self, fieldworker_id: int, channels: Sequence[str]) -> None:
        """Store the fieldworker's channels."""
        await t.Fieldworker.filter(id=fieldworker_id).update(channels=list(channels))

    async def spend_invite_code(self, fieldworker_id: int, code: str) -> bool:
        """Conditional UPDATE: the code is spent by this call or not at all."""
        changed = await t.Fieldworker.filter(
            id=fieldworker_id, invite_code=code, invite_code_used_at__isnull=True
        ).update(invite_code_used_at=self._now)
        return bool(changed)

    async def set_invite_code(self, fieldworker_id: int, code: str) -> bool:
        """Replace the fieldworker's invite code with a fresh, unused one."""
        changed = await t.Fieldworker.filter(id=fieldworker_id).update(
            invite_code=code, invite_code_used_at=None
        )
        return bool(changed)
