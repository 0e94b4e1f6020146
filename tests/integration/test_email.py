"""Email as a channel (issue 9): job requests by SMTP with signed links to `/r/{token}`.

The real sender talks SMTP (aiosmtplib) to a real local server (the aiosmtpd sink of
`emulators/smtp.py`); the link pages are the real aiohttp handlers, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from dispatch import offering, responding
from dispatch.commands import Action, Outcome
from dispatch.model import Actor, ActorKind, Channel
from emulators.smtp import SmtpSink
from handlers.context import CHAT, ChatContext
from handlers.email_links import add_routes
from models import tables as t
from models.transactions import Transactions
from notifications.email_transport import SmtpSettings
from notifications.links import LinkSigner, derive_key
from notifications.render import OutboxRenderer
from notifications.sender import OutboxSender
from tests.factories import (
    SmsSink,
    add_fieldworker,
    add_service,
    add_staff,
    create_booking,
    save_settings,
)

ANN = "ann@example.com"
LINKS = LinkSigner(derive_key("test-link-secret"), "https://dispatch.example.com")
ADDRESS = "Rua <Flores> & Filhos 12"


def email_tx() -> Transactions:
    renderer = OutboxRenderer(
        telegram_enabled=True,
        sms_enabled=True,
        company_timezone="UTC",
        email_enabled=True,
        links=LINKS,
        customer_email=True,
    )
    return Transactions(renderer, sms_enabled=True, email_enabled=True)


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    server = SmtpSink()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(db: str) -> AsyncIterator[TestClient]:
    app = web.Application()
    app[CHAT] = ChatContext(tx=email_tx(), timezone="UTC", links=LINKS)
    add_routes(app)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def sender_for(sink: SmtpSink, tx: Transactions, sms: SmsSink | None = None) -> OutboxSender:
    assert sink._server is not None
    port = sink._server.sockets[0].getsockname()[1]
    smtp = SmtpSettings.from_url(f"smtp://127.0.0.1:{port}", "dispatch@example.com")
    return OutboxSender(smtp=smtp, twilio=sms, twilio_from="+15550000000" if sms else None, tx=tx)


async def drain(sender: OutboxSender) -> None:
    while await sender.drain_once():
        pass


def path_of(url: str) -> str:
    return url.removeprefix(LINKS.base_url)


async def seed(**columns: Any) -> tuple[t.Fieldworker, int, t.JobRequest]:
    """Ann (email first), a booking asking her; returns her, the booking and her request."""
    await add_service()
    columns.setdefault("channels", ["email", "sms"])
    ann = await add_fieldworker("Ann Mailer", email=ANN, **columns)
    booking_id = await create_booking(email_tx(), phone=None, address=ADDRESS)
    request = await t.JobRequest.get(booking_id=booking_id, fieldworker_id=ann.id)
    return ann, booking_id, request


async def test_a_job_request_email_goes_through_smtp_with_both_links(
    db: str, sink: SmtpSink
) -> None:
    _, booking_id, request = await seed()
    await drain(sender_for(sink, email_tx()))

    [mail] = await sink.wait_for(ANN)
    assert mail.sender == "dispatch@example.com"
    assert "Plumbing" in mail.subject
    accept, decline = LINKS.url(request.id, "accept"), LINKS.url(request.id, "decline")
    assert f"Accept: {accept}" in mail.text and f"Decline: {decline}" in mail.text
    assert ADDRESS in mail.text
    assert mail.html is not None
    assert f'href="{accept}"' in mail.html and f'href="{decline}"' in mail.html
    # Merge values are escaped in the HTML part.
    assert "Rua &lt;Flores&gt; &amp; Filhos 12" in mail.html and "<Flores>" not in mail.html
    row = await t.Notification.get(booking_id=booking_id, channel="email")
    assert row.status == "sent" and row.recipient == ANN


async def test_accepting_by_link_assigns_the_job_and_a_get_changes_nothing(
    client: TestClient,
) -> None:
    ann, booking_id, request = await seed()
    link = path_of(LINKS.url(request.id, "accept"))

    for _ in range(2):  # a mail scanner fetching the link first
        page = await client.get(link)
        assert page.status == 200
        html = await page.text()
        assert "Accept" in html and "Decline" in html and "Rua &lt;Flores&gt;" in html
    assert (await t.JobRequest.get(id=request.id)).status == "pending"

    answer = await client.post(link, data={"action": "accept"})
    assert answer.status == 200 and "the job is yours" in await answer.text()
    job = await t.Job.get(booking_id=booking_id)
    assert (job.status, job.fieldworker_id) == ("assigned", ann.id)
    accepted = await t.History.get(booking_id=booking_id, action="request_accepted")
    assert (accepted.channel, accepted.actor_kind) == ("email", "fieldworker")

    # Reused: the page says what happened; a second POST changes nothing.
    again = await client.get(link)
    assert "the job is yours" in await again.text()
    repeat = await client.post(link, data={"action": "accept"})
    assert "already accepted" in await repeat.text()
    assert await t.History.filter(booking_id=booking_id, action="job_assigned").count() == 1


async def test_declining_by_link_asks_for_the_reason_first(client: TestClient) -> None:
    _, _, request = await seed()
    link = path_of(LINKS.url(request.id, "decline"))
    page = await (await client.get(link)).text()
    assert "Why are you declining?" in page and "Too far" in page

    no_reason = await client.post(link, data={"action": "decline", "reason": "Other"})
    assert no_reason.status == 422 and "Please give a reason" in await no_reason.text()
    assert (await t.JobRequest.get(id=request.id)).status == "pending"

    answer = await client.post(link, data={"action": "decline", "reason": "Too far"})
    assert "Declined" in await answer.text()
    declined = await t.JobRequest.get(id=request.id)
    assert (declined.status, declined.reason) == ("declined", "Too far")
    own_words = await client.post(link, data={"action": "decline", "other": "Van broke down"})
    assert "You declined this request" in await (await client.get(link)).text()
    assert "no longer open" in await own_words.text()


@pytest.mark.parametrize(
    "token",
    [
        "1.a.AAAAAAAAAAAAAAAAAAAAAA",  # a signature nobody made
        "garbage",
        "99999999999999999999.a.x",  # beyond any id
        "1.x.AAAA",
    ],
)
async def test_a_forged_link_gets_a_clear_page_and_changes_nothing(
    client: TestClient, token: str
) -> None:
    _, _, request = await seed()
    for method in ("GET", "POST"):
        answer = await client.request(method, f"/r/{token}", data={"action": "accept"})
        assert answer.status == 404 and "This link is not valid" in await answer.text()
    # A genuine signature for another request, or another key's token, is forged too.
    other_key = LinkSigner(derive_key("another secret"), LINKS.base_url)
    for forged in (other_key.token(request.id, "accept"), LINKS.token(request.id + 1, "accept")):
        answer = await client.post(f"/r/{forged}", data={"action": "accept"})
        assert answer.status == 404
    assert (await t.JobRequest.get(id=request.id)).status == "pending"


async def test_a_link_accept_racing_a_telegram_accept_has_one_winner(
    client: TestClient,
) -> None:
    ann, booking_id, request = await seed()
    ben = await add_fieldworker("Ben Chat", telegram=501)
    tx = email_tx()
    await tx.run(
        lambda uow: offering.send_requests(
            uow, [request.job_id], [ben.id], Actor(ActorKind.STAFF, None, "Dora"), Channel.API
        )
    )
    bens = await t.JobRequest.get(job_id=request.job_id, fieldworker_id=ben.id)
    link = path_of(LINKS.url(request.id, "accept"))

    by_link, by_chat = await asyncio.gather(
        client.post(link, data={"action": "accept"}),
        tx.run(
            lambda uow: responding.respond(
                uow, bens.id, Action.ACCEPT, Actor(ActorKind.FIELDWORKER, ben.id), Channel.TELEGRAM
            )
        ),
    )
    page = await by_link.text()
    job = await t.Job.get(id=request.job_id)
    assert await t.History.filter(booking_id=booking_id, action="job_assigned").count() == 1
    if job.fieldworker_id == ann.id:
        assert "the job is yours" in page and by_chat.outcome is Outcome.TAKEN
    else:
        assert job.fieldworker_id == ben.id and by_chat.outcome is Outcome.ASSIGNED
        assert "another fieldworker already took this job" in page
        later = await client.get(link)
        assert "another fieldworker already took this job" in await later.text()


async def test_a_refused_email_goes_by_sms_and_staff_are_told_once(db: str, sink: SmtpSink) -> None:
    await add_staff("Owen Owner", role="owner", telegram=900)
    ann, booking_id, request = await seed(phone="+4915100000777")
    sink.refuse_next(550, "5.1.1 no such mailbox")
    sms = SmsSink()
    tx = email_tx()
    await drain(sender_for(sink, tx, sms))

    refused = await t.Notification.get(booking_id=booking_id, channel="email")
    assert refused.status == "failed" and "550" in (refused.error or "")
    assert sink.mails == []
    [by_sms] = sms.sent
    assert by_sms["to"] == "+4915100000777" and f"YES {request.reply_code}" in by_sms["body"]
    # (The staff alert fails too here: no Telegram in this test. It is recorded, alerts nobody.)
    [failed] = await t.History.filter(
        booking_id=booking_id, action="delivery_failed", channel="email"
    )
    assert (failed.channel, failed.details["fallback"]) == ("email", "sms")
    assert await t.Notification.filter(template="staff_delivery_failed").count() == 1
    assert ann.id == failed.details["fieldworker_id"]


async def test_email_goes_by_preference_and_sms_backup_does_not_touch_it(db: str) -> None:
    await save_settings(sms_backup_for_requests=True)
    _, booking_id, _ = await seed(phone="+4915100000777")
    rows = await t.Notification.filter(booking_id=booking_id).order_by("id")
    assert [(r.channel, r.template) for r in rows] == [("email", "job_request_email")]
    assert re.search(r"/r/\d+\.a\.", rows[0].body)


async def test_a_customer_with_an_address_gets_their_notices_by_email_too(
    db: str, sink: SmtpSink
) -> None:
    await add_service()
    ben = await add_fieldworker("Ben Chat", telegram=501)
    tx = email_tx()
    booking_id = await create_booking(tx, customer="Carol <Client>", email="carol@example.com")
    request = await t.JobRequest.get(booking_id=booking_id)
    await tx.run(
        lambda uow: responding.respond(
            uow, request.id, Action.ACCEPT, Actor(ActorKind.FIELDWORKER, ben.id), Channel.TELEGRAM
        )
    )
    sms = SmsSink()
    sender = sender_for(sink, tx, sms)
    sender.bot = None  # no Telegram here: the fieldworker's messages fail, the customer's do not
    await drain(sender)

    [mail] = await sink.wait_for("carol@example.com")
    [by_sms] = sms.sent
    assert mail.text.strip() == by_sms["body"]
    assert by_sms["body"].startswith("Hi Carol, Ben will do your Plumbing on ")
    assert "Plumbing" in mail.subject
    notified = await t.History.filter(booking_id=booking_id, action="customer_notified")
    assert sorted(h.channel for h in notified) == ["email", "sms"]


async def test_a_refused_telegram_notice_goes_on_by_email_when_that_is_next(db: str) -> None:
    from dispatch import assignment, delivery

    await add_service()
    ann = await add_fieldworker("Ann Both", telegram=601, email=ANN, channels=["telegram", "email"])
    tx = email_tx()
    booking_id = await create_booking(tx, phone=None)
    job = await t.Job.get(booking_id=booking_id)
    staff = Actor(ActorKind.STAFF, None, "Dora")
    await tx.run(lambda uow: assignment.assign(uow, job.id, ann.id, staff, Channel.API))
    # The new message that tells her (the edit of her request message is another row).
    notice = await t.Notification.get(
        template="job_assigned_to_you", channel="telegram", request_id=None
    )
    await tx.run(lambda uow: delivery.notification_failed(uow, notice.id, "Forbidden: blocked"))

    [by_email] = await t.Notification.filter(template="job_assigned_to_you", channel="email")
    assert by_email.recipient == ANN
    assert by_email.body.startswith(f"You have been assigned job {job.id}: Plumbing, ")
    assert notice.body.startswith("📌 You have been assigned a job."), "worded per channel"
    assert by_email.payload["subject"] and by_email.payload["refused"] == ["telegram"]


async def test_an_email_first_fieldworker_gets_nudge_and_reminder_by_email(
    db: str, sink: SmtpSink
) -> None:
    """Nudges and reminders go by the first channel that reaches them: email, with the nudge's
    Accept / Decline links (not a `YES code` they could not answer by mail)."""
    from dispatch import events as ev

    await add_service()
    ann = await add_fieldworker("Ann Mail", email=ANN, channels=["email", "sms"])
    tx = email_tx()
    booking_id = await create_booking(tx, phone=None)
    request = await t.JobRequest.get(booking_id=booking_id, fieldworker_id=ann.id)

    async def happens(uow: Any, event: ev.Event) -> None:
        uow.emit(event)

    await tx.run(
        lambda uow: happens(uow, ev.RequestNudged(booking_id, request.id, request.job_id, ann.id))
    )
    await tx.run(lambda uow: happens(uow, ev.JobReminder(booking_id, request.job_id, ann.id)))

    rows = await t.Notification.filter(recipient=ANN).order_by("id")
    assert [r.template for r in rows] == ["job_request_email", "nudge_email", "reminder_email"]
    assert await t.Notification.filter(channel="sms").count() == 0, "email reaches her first"
    nudged, reminded = rows[1], rows[2]
    assert "still waiting for your answer" in nudged.body
    assert f"Accept: {LINKS.url(request.id, 'accept')}" in nudged.body
    assert "YES" not in nudged.body
    assert nudged.payload["subject"].startswith("Waiting for your answer: Plumbing")
    assert "Your job starts soon." in reminded.body and "Plumbing" in reminded.body
    assert '<a href="https://dispatch.example.com/r/' in nudged.payload["html"]
