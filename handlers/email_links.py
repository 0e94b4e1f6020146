"""The page behind a job request email's links: `GET, POST /r/{token}` (CONTRACT §3, §7).

GET only shows: the job and Accept / Decline, or what became of the request (mail scanners fetch
links, so a GET never changes anything). The page's buttons POST, and a POST answers through
`dispatch.responding.respond` with `Channel.EMAIL`, under every rule of chat: first to accept
wins, and a decline asks for its reason (the configured ones, or the fieldworker's own words).
A token is checked on every use; a forged one, or one whose request is gone, gets a clear page
(404), never a 5xx. A token has no expiry of its own: once its request closes, the page says
what happened.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from aiohttp import web

from dispatch import responding
from dispatch.commands import Action, Outcome
from dispatch.model import Actor, ActorKind, Channel
from dispatch.reasons import MAX_TYPED_REASON
from handlers.context import CHAT, ChatContext
from models import tables as t
from models.views import load_settings
from notifications.templates import format_when

log = logging.getLogger(__name__)

#: The page's answer to each outcome of a response.
ANSWERS = {
    Outcome.ASSIGNED: "Confirmed: the job is yours.",
    Outcome.ACCEPTED: "Accepted. Staff will confirm who gets the job.",
    Outcome.ALREADY_ACCEPTED: "You already accepted this job.",
    Outcome.TAKEN: "Sorry, another fieldworker already took this job.",
    Outcome.CLOSED: "This request is no longer open.",
    Outcome.JOB_CLOSED: "This job was cancelled.",
    Outcome.DECLINED: "Declined. Thanks for letting us know.",
    Outcome.NOT_FOUND: "This request no longer exists.",
}
#: What a closed request's page says, by the request's status.
CLOSED = {
    "accepted": "You accepted this job.",
    "declined": "You declined this request.",
    "expired": "This request expired without an answer.",
    "withdrawn": "This request was withdrawn: the job no longer needs you.",
}
BAD_LINK = "This link is not valid. Please use the link in your most recent email."


def _page(title: str, body: str, status: int = 200) -> web.Response:
    html = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta name='robots' content='noindex'><title>{escape(title)}</title></head>"
        f"<body style='font-family:sans-serif;max-width:36em;margin:1em auto'>{body}</body></html>"
    )
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _message(text: str, details: str = "", status: int = 200) -> web.Response:
    return _page(text, f"<p><strong>{escape(text)}</strong></p>{details}", status)


async def _request_of(request: web.Request) -> tuple[ChatContext, t.JobRequest] | web.Response:
    """The context and the job request a genuine token names, or the page that refuses it."""
    ctx = request.app[CHAT]
    checked = ctx.links.check(request.match_info["token"]) if ctx.links else None
    if checked is None:
        return _message(BAD_LINK, status=404)
    job_request = await t.JobRequest.get_or_none(id=checked[0])
    if job_request is None:
        return _message(ANSWERS[Outcome.NOT_FOUND], status=404)
    return ctx, job_request


async def _details(job_request: t.JobRequest) -> str:
    """The job, as the page shows it (every value escaped)."""
    job = await t.Job.get(id=job_request.job_id).select_related("appointment", "booking")
    fw = await t.Fieldworker.get(id=job_request.fieldworker_id)
    service = await t.Service.get_or_none(code=job.service_code)
    when = format_when(job.appointment.start, job.appointment.end, fw.timezone)
    lines = [service.name if service else job.service_code, when, job.booking.address]
    if job.booking.notes:
        lines.append(f"Notes: {job.booking.notes}")
    lines.append(f"Booking {job.booking_id}, job {job.id}")
    return "<p>" + "<br>".join(escape(line) for line in lines) + "</p>"


async def _what_happened(job_request: t.JobRequest) -> str:
    """A closed request's page: taken by someone else, expired, answered by them."""
    job = await t.Job.get(id=job_request.job_id)
    taken = job.status in ("assigned", "completed")
    if (
        job_request.status == "withdrawn"
        and taken
        and job.fieldworker_id != job_request.fieldworker_id
    ):
        return ANSWERS[Outcome.TAKEN]
    if job_request.status == "accepted" and job.fieldworker_id == job_request.fieldworker_id:
        return ANSWERS[Outcome.ASSIGNED]
    if job.status == "cancelled":
        return ANSWERS[Outcome.JOB_CLOSED]
    return CLOSED.get(job_request.status, ANSWERS[Outcome.CLOSED])


async def _form(token: str, *, prompt: str = "") -> str:
    """Accept and Decline (with the configured reasons, and a box for their own words)."""
    settings = await load_settings()
    action = f"/r/{escape(token)}"
    reasons = "".join(
        f"<label><input type='radio' name='reason' value='{escape(r)}'> {escape(r)}</label><br>"
        for r in settings.decline_reasons
    )
    ask = f"<p><strong>{escape(prompt)}</strong></p>" if prompt else ""
    return (
        f"<form method='post' action='{action}'>"
        "<button name='action' value='accept' type='submit'>Accept</button></form>"
        f"<hr>{ask}<form method='post' action='{action}'><p>Why are you declining?</p>{reasons}"
        f"<label>Your own words: <input name='other' maxlength='{MAX_TYPED_REASON}'></label><br>"
        "<button name='action' value='decline' type='submit'>Decline</button></form>"
    )


async def link_page(request: web.Request) -> web.Response:
    """GET: the job and its buttons, or what became of the request. Changes nothing."""
    found = await _request_of(request)
    if isinstance(found, web.Response):
        return found
    _, job_request = found
    details = await _details(job_request)
    if job_request.status != "pending":
        return _message(await _what_happened(job_request), details)
    form = await _form(request.match_info["token"])
    return _page("Job request", f"<h1>Job request</h1>{details}{form}")


def _reason(form: Any) -> str | None:
    """The decline reason a POST names: their own words over a picked reason; bounded."""
    for key in ("other", "reason"):
        value = form.get(key)
        # "Other" alone names no reason: the box was the place for their words (as in chat).
        if isinstance(value, str) and value.strip() and value.strip().lower() != "other":
            return value.replace("\x00", "").strip()[:MAX_TYPED_REASON]
    return None


async def link_answer(request: web.Request) -> web.Response:
    """POST: accept or decline the request the token names, under every rule of chat."""
    found = await _request_of(request)
    if isinstance(found, web.Response):
        return found
    ctx, job_request = found
    try:
        form = await request.post()
    except ValueError:
        return _message("That answer could not be read.", status=400)
    action = {"accept": Action.ACCEPT, "decline": Action.DECLINE}.get(str(form.get("action")))
    if action is None:
        return _message("Please press Accept or Decline.", status=400)
    fw = await t.Fieldworker.get(id=job_request.fieldworker_id)
    actor = Actor(ActorKind.FIELDWORKER, fw.id, fw.name)
    reason = _reason(form) if action is Action.DECLINE else None
    result = await ctx.tx.run(
        lambda uow: responding.respond(
            uow, job_request.id, action, actor, Channel.EMAIL, reason=reason
        )
    )
    details = await _details(job_request)
    if result.outcome is Outcome.REASON_REQUIRED:
        form_html = await _form(
            request.match_info["token"], prompt="Please give a reason to decline."
        )
        return _page("Job request", f"<h1>Job request</h1>{details}{form_html}", status=422)
    log.info("request %s answered by email link: %s", job_request.id, result.outcome.value)
    return _message(ANSWERS.get(result.outcome, "Done."), details)


def add_routes(app: web.Application) -> None:
    """Serve `/r/{token}` (GET shows, POST answers)."""
    app.router.add_get("/r/{token}", link_page)
    app.router.add_post("/r/{token}", link_answer)
