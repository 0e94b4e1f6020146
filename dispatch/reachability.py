"""Reachability: which channel reaches a fieldworker now; the only place that knows.

A fieldworker lists the channels they accept (`channels`). Telegram needs a linked chat, SMS a phone
that has not opted out (STOP), and each needs its channel switched on for the company. Telegram is
preferred when both work (buttons beat reply codes). A fieldworker nobody can reach is never asked.
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


@dataclass(frozen=True)
class Contact:
    """What the core needs to know about how a fieldworker can be reached."""

    channels: Collection[str]
    telegram_chat_id: int | None
    phone: str | None
    sms_opt_out: bool


def message_channel(contact: Contact, on: ChannelsOn) -> Channel | None:
    """The channel a message to this fieldworker goes by now, or None when none can reach them."""
    if on.telegram and contact.telegram_chat_id is not None and "telegram" in contact.channels:
        return Channel.TELEGRAM
    if on.sms and contact.phone and not contact.sms_opt_out and "sms" in contact.channels:
        return Channel.SMS
    return None


def is_reachable(contact: Contact, on: ChannelsOn) -> bool:
    """True when a job request can reach this fieldworker on at least one channel."""
    return message_channel(contact, on) is not None
