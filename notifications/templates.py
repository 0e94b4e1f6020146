"""Message texts: Jinja2 in a sandbox (templates are data, never code)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

TEMPLATES: dict[str, str] = {
    # Telegram: plain text, no parse mode, so nothing a customer typed can break the markup.
    "job_request": (
        "📋 New job request #{{ request_id }}\n"
        "{{ service }} · {{ when }}\n"
        "📍 {{ address }}{% if distance_km is not none %} ({{ distance_km }} km away){% endif %}\n"
        "{% if notes %}📝 {{ notes }}\n{% endif %}"
        "Booking {{ booking_id }}, job {{ job_id }}"
    ),
    "request_accepted": "✅ You got this job.\n{{ summary }}",
    "request_accepted_manual": "👍 Accepted. Staff will confirm who gets it.\n{{ summary }}",
    "request_declined": (
        "❌ Declined{% if reason %}: {{ reason }}{% endif %}.\n{{ summary }}"
        "{% if invite is defined and invite %}\n\n{{ invite }}{% endif %}"
    ),
    "request_no_longer_attending": (
        "🚫 No longer attending{% if reason %}: {{ reason }}{% endif %}.\n{{ summary }}"
        "{% if invite is defined and invite %}\n\n{{ invite }}{% endif %}"
    ),
    # Reschedule Assist (CONTRACT §5): the fieldworker proposes, the customer chooses.
    "assist_invite": (
        "📅 Could the customer have another time? "
        "{% if suggested %}Pick up to {{ max_slots }} of your free times below and press "
        "“Send to customer”, or type your own.{% else %}You have no free time in your working "
        "hours this week: type the times you could come.{% endif %}"
    ),
    "assist_sent": (
        "📨 Sent to the customer: {{ options }}. They answer by SMS; you will hear what they "
        "choose.\n{{ summary }}"
    ),
    "assist_chosen": (
        "✅ The customer chose {{ chosen }} from the times you proposed: the job is yours."
        "\n{{ summary }}"
    ),
    "assist_chosen_not_free": (
        "🔁 The customer chose {{ chosen }} from the times you proposed, but you are no longer "
        "free then, so the job was offered again.\n{{ summary }}"
    ),
    "assist_expired": (
        "⌛ The customer did not choose any of the times you proposed for job {{ job_id }}."
        "\n{{ summary }}"
    ),
    "request_taken": "This job was taken by another fieldworker.\n{{ summary }}",
    "request_not_selected": "Another fieldworker was selected for this job.\n{{ summary }}",
    "request_assigned_elsewhere": "This job was given to another fieldworker.\n{{ summary }}",
    "request_cancelled": "This job was cancelled.\n{{ summary }}",
    "request_expired": "This request expired without an answer.\n{{ summary }}",
    "request_rescheduled": (
        "🔁 This request is closed: the job was moved to a new time. If you are asked for the "
        "new time, a new request follows.\n{{ summary }}"
    ),
    "on_behalf": "🔔 Staff {{ verb }} job {{ job_id }} on your behalf.\n{{ summary }}",
    "job_assigned_to_you": "📌 You have been assigned a job.\n{{ summary }}",
    "job_taken_from_you": "🔔 Job {{ job_id }} is no longer yours (reassigned).\n{{ summary }}",
    "job_unassigned": "🔔 You are no longer assigned to job {{ job_id }}.\n{{ summary }}",
    "job_rescheduled": (
        "🔁 Job {{ job_id }} was moved to a new time (it was {{ previous }}). It is still yours."
        "\n{{ summary }}"
    ),
    "job_unassigned_rescheduled": (
        "🔁 Job {{ job_id }} was moved to a new time you are not available for, so it is no "
        "longer yours.\n{{ summary }}"
    ),
    "decline_reason_prompt": "Why are you declining?\n{{ summary }}",
    "booking_changed": (
        "✏️ Booking {{ booking_id }} was changed.\n"
        "{% if 'address' in changed %}📍 Address: {{ address }}\n{% endif %}"
        "{% if 'location' in changed and 'address' not in changed %}"
        "📍 The map location was corrected.\n{% endif %}"
        "{% if 'notes' in changed %}📝 Notes: {{ notes or '(none)' }}\n{% endif %}"
        "{% for line in summaries %}{{ line }}\n{% endfor %}"
    ),
    "job_completed": "✅ Job {{ job_id }} is marked completed.\n{{ summary }}",
    "staff_nobody_to_ask": (
        "⚠️ Booking {{ booking_id }}, job {{ job_id }} ({{ service }}, {{ when }}): "
        "no eligible fieldworker left to ask."
    ),
    "staff_assignment_timeout": (
        "⏰ Booking {{ booking_id }}, job {{ job_id }} ({{ service }}, {{ when }}): nobody "
        "accepted in time ({{ asked }} asked). Ask them all again with the button or "
        "/rebroadcast {{ booking_id }} all; or /request, /assign."
    ),
    "staff_fieldworker_cancelled": (
        "⚠️ {{ fieldworker }} is no longer attending job {{ job_id }} (booking {{ booking_id }}, "
        "{{ service }}, {{ when }}){% if reason %}: {{ reason }}{% endif %}. "
        "{% if rebroadcast %}Other fieldworkers were asked.{% else %}Nobody else was asked yet: "
        "the job is missed until staff act (/rebroadcast {{ booking_id }}, /request or /assign)."
        "{% endif %}"
    ),
    "staff_delivery_failed": (
        "⚠️ A message to {{ recipient }} about booking {{ booking_id }}"
        "{% if job_id %}, job {{ job_id }}{% endif %} could not be delivered by {{ channel }}"
        "{% if error %} ({{ error }}){% endif %}. "
        "{% if fallback %}It was sent by {{ fallback }} instead."
        "{% else %}No other channel reaches them.{% endif %}"
    ),
    "staff_unassigned_soon": (
        "⏰ Booking {{ booking_id }}, job {{ job_id }} ({{ service }}, {{ when }}) starts soon "
        "and is still {{ status }}. Re-broadcast, see who is available"
        "{% if suggested %}, or assign {{ suggested }}{% endif %} with the buttons "
        "(or /rebroadcast, /available, /assign {{ booking_id }} ...)."
    ),
    "staff_job_rescheduled": (
        "🔁 Booking {{ booking_id }}, job {{ job_id }} ({{ service }}) was moved to {{ when }} "
        "and needs a fieldworker: see who is available with the button (or /available "
        "{{ booking_id }}), then /request or /assign."
    ),
    "staff_acceptance_waiting": (
        "⚠️ Waiting for staff: {{ fieldworker }} accepted job {{ job_id }} (booking "
        "{{ booking_id }}, {{ service }}, {{ when }}). Confirm with /assign {{ booking_id }} "
        "{{ fieldworker_id }}."
    ),
    # Reminders (CONTRACT §5): the nudge is a reply to the request's own message (its buttons).
    "nudge": (
        "⏳ Reminder: job request #{{ request_id }} is still waiting for your answer "
        "(Accept or Decline above).\n{{ summary }}"
    ),
    "reminder": (
        "⏰ Reminder: your job starts soon.\n"
        "{{ service }} · {{ when }}\n"
        "📍 {{ address }}\n"
        "{% if notes %}📝 {{ notes }}\n{% endif %}"
        "Booking {{ booking_id }}, job {{ job_id }}"
    ),
    "day_before_confirmation": (
        "📅 Please confirm you will attend this job.\n"
        "{{ service }} · {{ when }}\n"
        "📍 {{ address }}\n"
        "Booking {{ booking_id }}, job {{ job_id }}"
    ),
    "attendance_confirmed": "✅ Confirmed, thank you: see you there.\n{{ summary }}",
    # SMS: short, and every request ends with how to answer (CONTRACT §6).
    "job_request_sms": (
        "Job request: {{ service }}, {{ when }}, {{ address }}."
        "{% if notes %} {{ notes }}.{% endif %}"
        " Reply YES {{ code }} to accept or NO {{ code }} reason to decline."
    ),
    "request_update_sms": "{{ text }}",
    "nudge_sms": (
        "Reminder: job request {{ service }}, {{ when }}, {{ address }} is waiting for your answer."
        " Reply YES {{ code }} / NO {{ code }} reason."
    ),
    "reminder_sms": (
        "Reminder: your job {{ service }}, {{ when }}, {{ address }}."
        "{% if notes %} {{ notes }}.{% endif %}"
    ),
    "day_before_confirmation_sms": (
        "Please confirm your job {{ service }}, {{ when }}, {{ address }}. "
        "{% if code %}Reply CONFIRM {{ code }} or CANCEL {{ code }} reason."
        "{% else %}Reply CONFIRM, or tell staff if you can't attend.{% endif %}"
    ),
    "customer_fieldworker_cancelled_sms": (
        "Hi {{ customer }}, {{ fieldworker }} can no longer come for your {{ service }} on "
        "{{ when }}. We are finding someone else and will confirm by SMS."
    ),
    "customer_assigned_sms": (
        "Hi {{ customer }}, {{ fieldworker }} will do your {{ service }} on {{ when }}."
    ),
    "customer_fieldworker_changed_sms": (
        "Hi {{ customer }}, a change for your {{ service }} on {{ when }}: {{ fieldworker }} "
        "will come instead."
    ),
    "customer_rescheduled_sms": (
        "Hi {{ customer }}, your {{ service }} has been moved to {{ when }}."
    ),
    "reschedule_offer": (
        "Hi {{ customer }}, {{ fieldworker }} can't come for your {{ service }} on {{ when }} "
        "but could come {{ options }}. Reply {{ choices }} to move your booking to that time."
    ),
    "reschedule_chosen_sms": (
        "Hi {{ customer }}, done: your {{ service }} is now on {{ when }}"
        "{% if assigned %} with {{ fieldworker }}.{% else %}. We are finding your technician "
        "and will confirm by SMS.{% endif %}"
    ),
    "customer_cancelled_sms": (
        "Hi {{ customer }}, your {{ service }} booking on {{ when }} has been cancelled."
    ),
    "customer_no_acceptance_sms": (
        "Hi {{ customer }}, we're still finding your technician for your {{ service }} on "
        "{{ when }}. We will confirm by SMS as soon as someone is booked."
    ),
    "customer_unassigned_soon_sms": (
        "Hi {{ customer }}, your {{ service }} on {{ when }} is not confirmed yet. We are "
        "working on it and will SMS you as soon as a technician is booked."
    ),
    "staff_customer_replied": (
        "💬 SMS from customer {{ customer }} ({{ phone }}) about booking {{ booking_id }} "
        "({{ summary }}):\n“{{ text }}”"
    ),
    "customer_reply_ack": (
        "Thanks, we got your message and passed it to our team. They will get back to you."
    ),
    # Email (`notifications.email`): a subject, a plain part and an HTML part (`*_html`, where
    # every merge value is HTML-escaped).
    "job_request_email_subject": "Job request: {{ service }}, {{ when }}",
    "job_request_email": (
        "New job request #{{ request_id }}\n\n"
        "{{ service }}\n{{ when }}\n{{ address }}"
        "{% if distance_km is not none %} ({{ distance_km }} km away){% endif %}\n"
        "{% if notes %}Notes: {{ notes }}\n{% endif %}"
        "Booking {{ booking_id }}, job {{ job_id }}\n\n"
        "Accept: {{ accept_url }}\nDecline: {{ decline_url }}\n"
    ),
    "job_request_email_html": (
        "<p><strong>New job request #{{ request_id }}</strong></p>"
        "<p>{{ service }}<br>{{ when }}<br>{{ address }}"
        "{% if distance_km is not none %} ({{ distance_km }} km away){% endif %}"
        "{% if notes %}<br>Notes: {{ notes }}{% endif %}</p>"
        "<p>Booking {{ booking_id }}, job {{ job_id }}</p>"
        '<p><a href="{{ accept_url }}">Accept</a> &middot; '
        '<a href="{{ decline_url }}">Decline</a></p>'
    ),
    "fieldworker_email_subject": "About your job: {{ service }}, {{ when }}",
    "fieldworker_email_subject_plain": "About your jobs",
    "customer_email_subject": (
        "Your booking{% if service is defined %}: {{ service }}{% endif %}"
        "{% if when is defined %}, {{ when }}{% endif %}"
    ),
}

_env = SandboxedEnvironment(
    autoescape=False, undefined=StrictUndefined, keep_trailing_newline=False
)
_html_env = SandboxedEnvironment(
    autoescape=True, undefined=StrictUndefined, keep_trailing_newline=False
)
_compiled = {
    name: (_html_env if name.endswith("_html") else _env).from_string(source)
    for name, source in TEMPLATES.items()
}


def render(name: str, **values: Any) -> str:
    """Render a named template; a missing value is an error, never an empty gap."""
    return _compiled[name].render(**values).strip()


def format_when(start: datetime, end: datetime, tz: str) -> str:
    """`Tue 1 Dec 10:00-12:00` in the given zone (falls back to UTC for an unknown zone)."""
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    s, e = start.astimezone(zone), end.astimezone(zone)
    end_text = (
        e.strftime("%H:%M")
        if e - s < timedelta(days=1) and s.date() == e.date()
        else (e.strftime("%a %-d %b %H:%M"))
    )
    return f"{s.strftime('%a %-d %b %H:%M')}-{end_text} {s.tzname()}"
