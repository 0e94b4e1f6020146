"""Emails to fieldworkers and customers: subject, plain part and HTML part, from named templates.

A job request email carries two signed links to `/r/{token}` (`notifications.links`): Accept and
Decline. Merge values are escaped in the HTML part (a customer's notes cannot add markup).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from notifications.links import LinkSigner
from notifications.templates import render


@dataclass(frozen=True)
class Email:
    """One email: the plain text is the outbox row's body; subject and HTML go in its payload."""

    subject: str
    text: str
    html: str | None = None

    def payload(self) -> dict[str, Any]:
        """What the outbox row's payload carries for `notifications.email_transport`."""
        return {"subject": self.subject, "html": self.html}


def job_request_email(links: LinkSigner, request_id: int, values: dict[str, Any]) -> Email:
    """A job request by email: the job's details and its Accept and Decline links."""
    merge = {
        **values,
        "request_id": request_id,
        "accept_url": links.url(request_id, "accept"),
        "decline_url": links.url(request_id, "decline"),
    }
    return Email(
        subject=render("job_request_email_subject", **merge),
        text=render("job_request_email", **merge),
        html=render("job_request_email_html", **merge),
    )


def plain_email(subject_template: str, text: str, **values: Any) -> Email:
    """A notice by email: the text as the plain part and as an escaped paragraph of HTML."""
    body = html.escape(text).replace("\n", "<br>")
    return Email(subject=render(subject_template, **values), text=text, html=f"<p>{body}</p>")
