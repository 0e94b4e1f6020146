"""Bug: anyone holding a used invite code could `/start CODE` and silently take over a fieldworker's
Telegram link.

Codes stayed valid after linking, for anyone, for as long as the fieldworker kept them: a code seen
on a printout or a forwarded message moved the fieldworker's job requests to a stranger's chat.
Now a link spends the code (stored, and decided by a conditional UPDATE); a spent code is refused
and changes nothing, staff issue a fresh one through the API, and sharing one's own phone number
still relinks. Driven through the real webhook and the REST API.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from emulators import make_message_update
from models import tables as t
from tests.factories import add_fieldworker
from tests.integration.test_api import call
from tests.regressions.conftest import Webhooks

ANA, MALLORY = 601, 666
PHONE = "+4915110000001"


def last_text(webhooks: Webhooks, chat: int) -> str:
    """The bot's last message to a chat."""
    sent = webhooks.telegram.emu.calls_of("sendMessage", ok_only=True)
    return str([c for c in sent if c.params["chat_id"] == chat][-1].params["text"])


async def test_a_used_code_is_refused_and_staff_can_issue_a_new_one(
    webhooks: Webhooks, api: TestClient
) -> None:
    fw = await add_fieldworker("Ana", phone=PHONE, invite_code="code-ana")
    assert await webhooks.update(make_message_update(1, ANA, "/start code-ana")) == 200
    assert last_text(webhooks, ANA).startswith("Welcome, Ana!")

    assert await webhooks.update(make_message_update(2, MALLORY, "/start code-ana")) == 200
    assert "already used" in last_text(webhooks, MALLORY)
    row = await t.Fieldworker.get(id=fw.id)
    assert (row.telegram_user_id, row.telegram_chat_id) == (ANA, ANA), "Ana keeps her link"
    assert row.invite_code_used_at is not None

    # Staff issue a fresh code (the API answer shows it); the old one links nobody.
    status, body = await call(api, "POST", f"/fieldworkers/{fw.id}/invite-code")
    assert status == 200, body
    assert body["invite_code"] != "code-ana" and body["invite_code_used"] is False
    assert body["telegram_linked"] is True, "the current link stays until the new code is used"

    assert await webhooks.update(make_message_update(3, MALLORY, "/start code-ana")) == 200
    assert "not valid" in last_text(webhooks, MALLORY)
    assert (
        await webhooks.update(make_message_update(4, 602, f"/start {body['invite_code']}")) == 200
    )
    assert (await t.Fieldworker.get(id=fw.id)).telegram_user_id == 602

    # Sharing her own phone number relinks Ana, code or no code.
    contact = {"phone_number": PHONE, "user_id": ANA}
    assert await webhooks.update(make_message_update(5, ANA, None, contact=contact)) == 200
    assert (await t.Fieldworker.get(id=fw.id)).telegram_user_id == ANA
