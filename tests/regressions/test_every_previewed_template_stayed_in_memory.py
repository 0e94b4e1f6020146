"""Bug: every template text ever checked or previewed stayed compiled in memory.

The book compiled each text once and kept it for good, keyed by the text. Saved templates are
few, but `PUT` checks and previews of proposed texts (any caller with the token) compiled a new
one each time, so the process grew with every distinct text sent. Now at most
`COMPILED_TEMPLATES` compiled texts are kept, the least recently used dropped first.
"""

from __future__ import annotations

from notifications import catalogue as cat
from notifications.template_checks import check, sample_values
from notifications.templates import BOOK, COMPILED_TEMPLATES, Source, compiled_count, render_source


def test_checking_many_distinct_texts_keeps_a_bounded_number_compiled() -> None:
    for i in range(COMPILED_TEMPLATES * 3):
        assert check("nudge", cat.SMS, Source(f"Reply YES {{{{ code }}}} ({i})")) == []
    assert compiled_count() <= COMPILED_TEMPLATES
    # The templates in force still render (compiled again when needed).
    source, _ = BOOK.source("nudge", cat.SMS)
    out = render_source(source, "nudge", cat.SMS, sample_values("nudge"))
    assert out.body.endswith("Reply YES 4821 / NO 4821 reason.")
