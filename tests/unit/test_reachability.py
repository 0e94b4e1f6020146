"""Which channel reaches a fieldworker now (`dispatch.reachability`): pure, no unit of work."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dispatch.model import Channel
from dispatch.reachability import (
    ChannelsOn,
    Contact,
    fallback_channel,
    is_reachable,
    message_channel,
    telegram_chat,
)

BOTH_ON = ChannelsOn(telegram=True, sms=True)
ALL_ON = ChannelsOn(telegram=True, sms=True, email=True)
#: Reachable both ways: a linked chat, a phone that has not opted out, Telegram preferred.
EVERYTHING = Contact(
    channels=("telegram", "sms"), telegram_chat_id=70, phone="+4915100000000", sms_opt_out=False
)


@pytest.mark.parametrize(
    ("contact", "on", "channel"),
    [
        # The first of their channels, in their order, that reaches them.
        (EVERYTHING, BOTH_ON, Channel.TELEGRAM),
        (replace(EVERYTHING, channels=("sms", "telegram")), BOTH_ON, Channel.SMS),
        (EVERYTHING, ChannelsOn(telegram=True, sms=False), Channel.TELEGRAM),
        # Otherwise SMS, when the phone has not opted out and SMS is on.
        (EVERYTHING, ChannelsOn(telegram=False, sms=True), Channel.SMS),
        (replace(EVERYTHING, telegram_chat_id=None), BOTH_ON, Channel.SMS),
        (replace(EVERYTHING, channels=("sms",)), BOTH_ON, Channel.SMS),
        # A channel the fieldworker does not accept is never used.
        (replace(EVERYTHING, channels=("telegram",), telegram_chat_id=None), BOTH_ON, None),
        (replace(EVERYTHING, channels=()), BOTH_ON, None),
        # SMS needs a phone, no opt-out (STOP), and SMS switched on.
        (replace(EVERYTHING, telegram_chat_id=None, phone=None), BOTH_ON, None),
        (replace(EVERYTHING, telegram_chat_id=None, phone=""), BOTH_ON, None),
        (replace(EVERYTHING, telegram_chat_id=None, sms_opt_out=True), BOTH_ON, None),
        (EVERYTHING, ChannelsOn(telegram=False, sms=False), None),
        # An opt-out does not stop Telegram.
        (replace(EVERYTHING, sms_opt_out=True), BOTH_ON, Channel.TELEGRAM),
    ],
)
def test_the_channel_that_reaches_a_fieldworker(
    contact: Contact, on: ChannelsOn, channel: Channel | None
) -> None:
    assert message_channel(contact, on) is channel
    assert is_reachable(contact, on) is (channel is not None)


def test_a_fieldworker_with_nothing_linked_is_not_reachable() -> None:
    nothing = Contact(channels=(), telegram_chat_id=None, phone=None, sms_opt_out=False)
    assert message_channel(nothing, BOTH_ON) is None
    assert not is_reachable(nothing, BOTH_ON)


# A Telegram user id is enough: a private chat's id is the user's id (issue 7).

UNLINKED = Contact(
    channels=("telegram", "sms"),
    telegram_chat_id=None,
    phone="+4915100000000",
    sms_opt_out=False,
    telegram_user_id=71,
)


def test_a_known_telegram_user_id_reaches_them_without_linking() -> None:
    assert message_channel(UNLINKED, BOTH_ON) is Channel.TELEGRAM
    assert telegram_chat(UNLINKED) == 71
    # A linked chat is used when there is one.
    assert telegram_chat(replace(UNLINKED, telegram_chat_id=72)) == 72
    assert message_channel(UNLINKED, ChannelsOn(telegram=False, sms=True)) is Channel.SMS
    only_telegram = replace(UNLINKED, channels=("telegram",), phone=None)
    assert is_reachable(only_telegram, BOTH_ON)
    assert not is_reachable(replace(only_telegram, telegram_user_id=None), BOTH_ON)


@pytest.mark.parametrize(
    ("contact", "on", "refused", "channel"),
    [
        # The next of their channels, in their order, that did not refuse and reaches them.
        (UNLINKED, BOTH_ON, [Channel.TELEGRAM], Channel.SMS),
        (replace(UNLINKED, channels=("sms", "telegram")), BOTH_ON, [Channel.TELEGRAM], Channel.SMS),
        (UNLINKED, BOTH_ON, [Channel.SMS], Channel.TELEGRAM),
        (UNLINKED, BOTH_ON, [], Channel.TELEGRAM),
        # Nothing left: every channel refused, not theirs, off, or unable to reach them.
        (UNLINKED, BOTH_ON, [Channel.TELEGRAM, Channel.SMS], None),
        (replace(UNLINKED, channels=("telegram",)), BOTH_ON, [Channel.TELEGRAM], None),
        (UNLINKED, ChannelsOn(telegram=True, sms=False), [Channel.TELEGRAM], None),
        (replace(UNLINKED, sms_opt_out=True), BOTH_ON, [Channel.TELEGRAM], None),
        (replace(UNLINKED, phone=None), BOTH_ON, [Channel.TELEGRAM], None),
        # A channel that is off or cannot reach them, or an unknown name, is skipped.
        (
            replace(UNLINKED, channels=("telegram", "email", "fax", "sms")),
            BOTH_ON,
            [Channel.TELEGRAM],
            Channel.SMS,
        ),
        # Email, in its place in their order, when it is on and they have an address.
        (
            replace(UNLINKED, channels=("telegram", "email", "sms"), email="a@example.com"),
            ALL_ON,
            [Channel.TELEGRAM],
            Channel.EMAIL,
        ),
        (
            replace(UNLINKED, channels=("telegram", "email", "sms"), email="a@example.com"),
            ALL_ON,
            [Channel.TELEGRAM, Channel.EMAIL],
            Channel.SMS,
        ),
    ],
)
def test_the_channel_a_refused_message_goes_by_next(
    contact: Contact, on: ChannelsOn, refused: list[Channel], channel: Channel | None
) -> None:
    assert fallback_channel(contact, on, refused) is channel


# Email (issue 9): needs the channel on and an address; `channels` order decides.

MAILER = Contact(
    channels=("email", "telegram"),
    telegram_chat_id=None,
    phone=None,
    sms_opt_out=False,
    telegram_user_id=73,
    email="ann@example.com",
)


def test_email_reaches_a_fieldworker_who_prefers_it() -> None:
    assert message_channel(MAILER, ALL_ON) is Channel.EMAIL
    # Email off (no SMTP_URL) or no address: the next of their channels.
    assert message_channel(MAILER, BOTH_ON) is Channel.TELEGRAM
    assert message_channel(replace(MAILER, email=None), ALL_ON) is Channel.TELEGRAM
    only_email = replace(MAILER, channels=("email",))
    assert is_reachable(only_email, ALL_ON)
    assert not is_reachable(only_email, BOTH_ON)
    assert not is_reachable(replace(only_email, email=""), ALL_ON)
