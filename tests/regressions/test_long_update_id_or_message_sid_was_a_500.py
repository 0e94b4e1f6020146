"""Bug: an `update_id` or `MessageSid` longer than its key column was a 500.

Every inbound update is recorded under a key (`tg:<update_id>`, `sms:<MessageSid>`, 80 characters)
before it acts; a longer key failed at the insert. Now such an update is refused with 400 before
anything is stored (`models.inbound.unstorable`), and so is any id beyond 64 bits in an update.
"""

from __future__ import annotations

from emulators import make_callback_update, make_message_update
from models import tables as t
from models.inbound import record
from tests.regressions.conftest import Webhooks


async def test_overlong_keys_are_refused_and_nothing_is_recorded(webhooks: Webhooks) -> None:
    assert await webhooks.update({"update_id": 10**100}) == 400
    assert await webhooks.update({"update_id": 2**63}) == 400
    assert await webhooks.update(make_message_update(1, 2**70, "hi")) == 400
    assert (
        await webhooks.update(
            make_callback_update(2, 2**64, "a:1", message_chat_id=1, message_id=1)
        )
        == 400
    )
    form = {"From": "+4915110000001", "To": "+1", "Body": "YES", "MessageSid": "SM" + "x" * 100}
    assert await webhooks.sms(form) == 400
    assert await t.InboundEvent.all().count() == 0

    # The store itself drops what it cannot hold (long polling takes no webhook).
    assert await record("sms:" + "x" * 100, {}) is False
    assert await t.InboundEvent.all().count() == 0
    # The largest ones still fit.
    assert await webhooks.update({"update_id": 2**63 - 1}) == 200
    assert await t.InboundEvent.filter(key=f"tg:{2**63 - 1}").exists()
