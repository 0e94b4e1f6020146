"""Which channel reaches a fieldworker now (`dispatch.reachability`): pure, no unit of work."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dispatch.model import Channel
from dispatch.reachability import ChannelsOn, Contact, is_reachable, message_channel

BOTH_ON = ChannelsOn(telegram=True, sms=True)
#: Reachable both ways: a linked chat, a phone that has not opted out, both channels accepted.
EVERYTHING = Contact(
    channels=("sms", "telegram"), telegram_chat_id=70, phone="+4915100000000", sms_opt_out=False
)


@pytest.mark.parametrize(
    ("contact", "on", "channel"),
    [
        # Telegram is preferred when it works, whatever the order of `channels`.
        (EVERYTHING, BOTH_ON, Channel.TELEGRAM),
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
