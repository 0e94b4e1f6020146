"""Bug (issue 7, CHANGELOG "Fixed"): "No longer attending" was worded as a decline.

A fieldworker who sent `CANCEL 4821` without a reason was asked "Why are you declining?", and after
pressing "No longer attending" on Telegram their job's message read "❌ Declined: ...", though they
had not declined an offer but dropped a job they held. Now the SMS asks "Why can't you attend?" and
the message says "No longer attending". A decline of an offer still reads as one. Checked where the
bug lived: the real SMS handler, and the outbox row that edits the Telegram message.
"""

from __future__ import annotations

from dispatch import responding
from dispatch.commands import Action
from dispatch.model import Actor, ActorKind, Channel
from handlers.context import ChatContext
from handlers.sms import handle_sms
from models import tables as t
from tests.factories import add_fieldworker, add_service, create_booking, transactions

PHONE = "+4915120000002"


async def test_an_sms_cancel_asks_why_they_cannot_attend(db: str) -> None:
    tx = transactions(outbox=True)
    chat = ChatContext(tx=tx, timezone="UTC")
    await add_service()
    await add_fieldworker("Sia Sms", phone=PHONE, channels=["sms"])
    await create_booking(tx)
    code = (await t.JobRequest.get()).reply_code

    assert "Why are you declining?" in (await handle_sms(chat, PHONE, f"NO {code}") or "")
    await t.Conversation.all().delete()  # they answer YES instead
    assert "yours" in (await handle_sms(chat, PHONE, f"YES {code}") or "")

    asked = await handle_sms(chat, PHONE, f"CANCEL {code}") or ""
    assert asked.startswith("Why can't you attend?"), asked
    assert "declining" not in asked
    bad = await handle_sms(chat, PHONE, "42")
    assert "pick a number" in (bad or ""), "a bad pick asks again"
    done = await handle_sms(chat, PHONE, "2")
    assert "no longer attending" in (done or "")
    assert (await t.Job.get()).status == "missed"


async def test_the_telegram_message_says_no_longer_attending(db: str) -> None:
    tx = transactions(outbox=True)
    await add_service()
    ann = await add_fieldworker("Ann Smith", telegram=601)
    await create_booking(tx)
    request = await t.JobRequest.get()
    as_ann = Actor(ActorKind.FIELDWORKER, ann.id)
    await tx.run(
        lambda uow: responding.respond(uow, request.id, Action.ACCEPT, as_ann, Channel.TELEGRAM)
    )

    await tx.run(
        lambda uow: responding.no_longer_attending(
            uow, request.job_id, ann.id, as_ann, Channel.TELEGRAM, reason="Personal"
        )
    )

    edit = await t.Notification.filter(request_id=request.id, channel="telegram").order_by("-id")
    assert edit[0].payload["method"] == "edit"
    assert edit[0].body.startswith("🚫 No longer attending: Personal."), edit[0].body
    assert "Declined" not in edit[0].body
