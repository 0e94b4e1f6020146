"""Staff's templates in the database, and the book (`notifications.templates.BOOK`) kept in step.

`refresh` reads every row into the book: at start, after a change made here, and on each sweep
of every instance (`bot.sweep`), so all instances render with the same templates within seconds.
"""

from __future__ import annotations

from models.message_templates import MessageTemplate
from notifications.templates import BOOK, Source


async def refresh() -> None:
    """Load every saved template into the book (replacing what it held)."""
    rows = await MessageTemplate.all()
    BOOK.replace_overrides(
        {(r.event, r.channel): Source(r.body, r.subject, r.parse_mode) for r in rows}
    )


async def save(event: str, channel: str, source: Source) -> None:
    """Store a checked template for an event and channel (replacing any earlier one)."""
    await MessageTemplate.update_or_create(
        defaults={"subject": source.subject, "body": source.body, "parse_mode": source.parse_mode},
        event=event,
        channel=channel,
    )


async def delete(event: str, channel: str) -> bool:
    """Forget staff's template for an event and channel (the default is in force again)."""
    return bool(await MessageTemplate.filter(event=event, channel=channel).delete())
