"""Bug: shortening a job request SMS's notes made the whole SMS UCS-2.

A job request SMS over its two segments is sent with shortened notes, marked with "…". That one
character is not in the GSM alphabet, so the SMS became UCS-2 (67 characters a segment instead of
153) and the notes were cut to a few words where two GSM-7 segments had room for most of them.
Now a GSM-7 text is shortened with "..." and stays GSM-7.
"""

from __future__ import annotations

from notifications import catalogue as cat
from notifications import segments
from notifications.template_checks import sample_values
from notifications.templates import BOOK, render_source


def test_a_shortened_ascii_job_request_sms_stays_gsm7_and_keeps_what_fits() -> None:
    notes = "Gate code 1234, ring twice, the dog is friendly. " * 8
    values = {
        **sample_values("job_request"),
        "customer": "Rita Sousa",
        "customer_first_name": "Rita",
        "notes": notes,
    }
    source, _ = BOOK.source("job_request", cat.SMS)
    body = render_source(source, "job_request", cat.SMS, values).body
    count = segments.count(body)
    assert (count.encoding, count.segments) == ("GSM-7", 2), body
    assert "..." in body and "…" not in body
    kept = body.split("for Rita Sousa. ", 1)[1].split("...", 1)[0]
    assert notes.startswith(kept) and len(kept) > 100, body
