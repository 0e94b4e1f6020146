"""Views of `/templates`: every message as a template per event and channel (CONTRACT §4).

Reading lists the catalogue (`notifications.catalogue`) with the template in force for each event
and channel. A `PUT` is checked (`notifications.template_checks.check`: syntax, merge fields,
Telegram HTML, the job request SMS's two segments, ...) before anything is saved; every problem
names its part and line. Saving and deleting refresh this instance's templates at once; other
instances follow on their next sweep (`notifications.template_store`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from dispatch.eligibility import haversine_km
from dispatch.model import Point
from models import tables as t
from models.uow import TortoiseUnitOfWork
from notifications import catalogue as cat
from notifications import segments, template_checks, template_store
from notifications.customers import first_name
from notifications.templates import BOOK, Rendered, Source, render_source, timing
from rest import schemas as s
from rest.errors import ApiError
from rest.routing import Call, model_list_response, model_response


def _spec_or_404(event: str, channel: str) -> cat.EventSpec:
    """The event of a path, refusing an unknown event or a channel it has no template on."""
    spec = cat.EVENTS.get(event)
    if spec is None:
        raise ApiError(
            404,
            "template_not_found",
            f"no event {event!r}; the events are: {', '.join(cat.EVENTS)}",
            "event",
        )
    if channel not in spec.channels:
        raise ApiError(
            404,
            "template_not_found",
            f"event {event!r} has no {channel!r} template; its channels are: "
            f"{', '.join(spec.channels)}",
            "channel",
        )
    return spec


def _template_out(spec: cat.EventSpec, channel: str) -> dict[str, Any]:
    source, is_default = BOOK.source(spec.name, channel)
    fields = list(spec.fields_for(channel))
    return {
        "event": spec.name,
        "channel": channel,
        "subject": source.subject,
        "body": source.body,
        "parse_mode": source.parse_mode,
        "fields": fields,
        "field_descriptions": {name: cat.FIELDS[name] for name in fields},
        "is_default": is_default,
        "audience": spec.audience,
        "description": spec.description,
    }


def _path(call: Call) -> tuple[cat.EventSpec, str]:
    channel = call.request.match_info["channel"]
    return _spec_or_404(call.request.match_info["event"], channel), channel


def _refuse(problems: list[template_checks.Problem]) -> ApiError:
    """422 naming every problem (part and line) in the message and in `problems`."""
    return ApiError(
        422,
        "invalid_template",
        "; ".join(p.describe() for p in problems),
        problems[0].part,
        extra={
            "problems": [{"part": p.part, "line": p.line, "message": p.message} for p in problems]
        },
    )


async def list_templates(_call: Call) -> web.StreamResponse:
    """Every template in force, one per event and channel, with the merge fields each may use
    (names in `fields`, what they hold in `field_descriptions`). A JSON list, by event."""
    items = [
        _template_out(spec, channel) for spec in cat.EVENTS.values() for channel in spec.channels
    ]
    return model_list_response(s.TemplateOut, items)


async def get_template(call: Call) -> web.StreamResponse:
    """The template in force for one event and channel (404 names the known ones)."""
    spec, channel = _path(call)
    return model_response(s.TemplateOut, _template_out(spec, channel))


async def put_template(call: Call) -> web.StreamResponse:
    """Replace the template of an event and channel with the whole template sent (`subject`
    for email only, `parse_mode` for Telegram only). It is checked first: a syntax error, an
    unknown merge field, Telegram HTML Telegram refuses, a job request SMS over two segments
    (with sample data) is a 422 naming every problem's part and line, and nothing is saved."""
    spec, channel = _path(call)
    body: s.TemplateIn = call.body
    source = Source(body.body, body.subject, body.parse_mode)
    problems = template_checks.check(spec.name, channel, source)
    if problems:
        raise _refuse(problems)

    async def work(_uow: TortoiseUnitOfWork) -> None:
        await template_store.save(spec.name, channel, source)

    await call.ctx.tx.run(work)
    await template_store.refresh()
    return model_response(s.TemplateOut, _template_out(spec, channel))


async def delete_template(call: Call) -> web.StreamResponse:
    """Restore the default template of an event and channel; answers it (deleting a default
    changes nothing)."""
    spec, channel = _path(call)

    async def work(_uow: TortoiseUnitOfWork) -> None:
        await template_store.delete(spec.name, channel)

    await call.ctx.tx.run(work)
    await template_store.refresh()
    return model_response(s.TemplateOut, _template_out(spec, channel))


async def preview_template(call: Call) -> web.StreamResponse:
    """Render the template in force, or a proposed one (`body`, `subject`, `parse_mode`; parts
    left out are the ones in force; checked first like a PUT), with a booking's data (its first
    job; its assigned or first asked fieldworker) or sample data. An SMS shows its segments."""
    spec, channel = _path(call)
    body: s.PreviewIn = call.body
    source, _ = BOOK.source(spec.name, channel)
    proposed = {"body", "subject", "parse_mode"} & body.model_fields_set
    if proposed:
        source = Source(
            body.body if "body" in proposed and body.body is not None else source.body,
            body.subject if "subject" in proposed else source.subject,
            body.parse_mode if "parse_mode" in proposed else source.parse_mode,
        )
        problems = template_checks.check(spec.name, channel, source)
        if problems:
            raise _refuse(problems)
    values = template_checks.sample_values(spec.name)
    if body.booking_id is not None:
        values.update(await _booking_values(spec, body.booking_id, call.ctx.timezone))
    try:
        out = render_source(source, spec.name, channel, values)
    except Exception as exc:  # a saved template that cannot render this booking's data
        raise ApiError(
            422,
            "template_failed",
            f"the template fails with this data: {exc}",
            "booking_id" if body.booking_id is not None else "body",
        ) from None
    return model_response(s.PreviewOut, _preview_out(channel, out))


def _preview_out(channel: str, out: Rendered) -> dict[str, Any]:
    counted = None
    if channel == cat.SMS:
        sms = segments.count(out.body)
        counted = {"count": sms.segments, "encoding": sms.encoding, "units": sms.units}
    return {
        "subject": out.subject,
        "body": out.body,
        "parse_mode": out.parse_mode,
        "segments": counted,
    }


async def _booking_values(spec: cat.EventSpec, booking_id: int, company_tz: str) -> dict[str, Any]:
    """Merge values from a booking's first job: customer, service, when, address, notes, ids,
    and the fieldworker who holds the job (else the first one asked), with their request."""
    booking = await t.Booking.get_or_none(id=booking_id).select_related("customer")
    if booking is None:
        raise ApiError(
            404, "booking_not_found", f"booking {booking_id} does not exist", "booking_id"
        )
    job = (
        await t.Job.filter(booking_id=booking_id)
        .order_by("id")
        .select_related("appointment")
        .first()
    )
    customer = booking.customer.name
    values: dict[str, Any] = {
        "customer": customer,
        "customer_first_name": first_name(customer),
        "address": booking.address,
        "notes": booking.notes or None,
        "booking_id": booking.id,
    }
    if job is None:
        return values
    service = await t.Service.get_or_none(code=job.service_code)
    values.update(job_id=job.id, service=service.name if service else job.service_code)
    request = await t.JobRequest.filter(job_id=job.id).order_by("id").first()
    fieldworker_id = job.fieldworker_id or (request.fieldworker_id if request else None)
    fw = await t.Fieldworker.get_or_none(id=fieldworker_id) if fieldworker_id else None
    # A fieldworker reads times in their own zone; customers and staff in the company's.
    tz = fw.timezone if fw is not None and spec.audience == "fieldworker" else company_tz
    values.update(timing(job.appointment.start, job.appointment.end, tz))
    if fw is None:
        return values
    values["fieldworker"] = fw.name if spec.audience == "staff" else first_name(fw.name)
    values["fieldworker_id"] = fw.id
    values["distance_km"] = None
    if fw.base_lat is not None and fw.base_lon is not None:
        here, there = Point(fw.base_lat, fw.base_lon), Point(booking.lat, booking.lon)
        values["distance_km"] = round(haversine_km(here, there), 1)
    if request is not None and request.fieldworker_id == fw.id:
        values.update(request_id=request.id, code=str(request.reply_code))
    return values
