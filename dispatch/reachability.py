"""Reachability: which channel reaches a fieldworker now; the only place that knows.

A fieldworker lists the channels they accept (`channels`). Telegram needs their Telegram user id
(a private chat's id is the user's id, so staff giving the id is enough; a linked chat is used when
there is one), SMS a phone that has not opted out (STOP), and each needs its channel switched on for
the company. Telegram is preferred when both work (buttons beat reply codes). A fieldworker nobody
can reach is never asked. When a channel refuses a message, it goes by the next of their channels,
in their order, that has not refused it yet (`fallback_channel`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from dispatch.model import Channel


@dataclass(frozen=True)
class ChannelsOn:
    """Which outbound channels the running service has (configured credentials)."""

    telegram: bool
    sms: bool
    email: bool = False


@dataclass(frozen=True)
class Contact:
    """What the core needs to know about how a fieldworker can be reached."""

    channels: Collection[str]
    telegram_chat_id: int | None
    phone: str | None
    sms_opt_out: bool
    telegram_user_id: int | None = None
    email: str | None = None


def telegram_chat(contact: Contact) -> int | None:
    """The Telegram chat a message to them goes to: the linked chat, else their private chat.

    The private chat with a user has the user's id, so a known user id is enough to write to them;
    Telegram refuses (403) until they have started the bot, which `fallback_channel` then handles.
    """
    if contact.telegram_chat_id is not None:
        return contact.telegram_chat_id
    return contact.telegram_user_id


def _reaches(channel: Channel, contact: Contact, on: ChannelsOn) -> bool:
    """True when `channel` is on and has what it needs to reach them (not their preference)."""
    if channel is Channel.TELEGRAM:
        return on.telegram and telegram_chat(contact) is not None
    if channel is Channel.SMS:
        return on.sms and bool(contact.phone) and not contact.sms_opt_out
    if channel is Channel.EMAIL:
        return on.email and bool(contact.email)
    return False


def message_channel(contact: Contact, on: ChannelsOn) -> Channel | None:
    """The channel a message to this fieldworker goes by now, or None when none can reach them.

    The first of their `channels`, in their order of preference, that can reach them.
    """
    return fallback_channel(contact, on, ())


def is_reachable(contact: Contact, on: ChannelsOn) -> bool:
    """True when a job request can reach this fieldworker on at least one channel."""
    return message_channel(contact, on) is not None


def fallback_channel(
    contact: Contact, on: ChannelsOn, refused: Collection[Channel]
) -> Channel | None:
    """The channel a refused message goes by next, or None when no other channel reaches them.

    The first of the fieldworker's `channels`, in their order of preference, that did not refuse
    this message already and can reach them now.
    """
    for name in contact.channels:
        channel = next((c for c in Channel if c.value == name), None)
        if channel is None or channel in refused:
            continue
        if _reaches(channel, contact, on):
            return channel
    return None
