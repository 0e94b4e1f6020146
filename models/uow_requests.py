"""Job requests created in bulk (a broadcast) for `TortoiseUnitOfWork`."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from dispatch.model import RequestStatus
from dispatch.ports import RequestView
from models import rows
from models import tables as t

PENDING = RequestStatus.PENDING.value
_COLUMNS = (
    "job_id",
    "booking_id",
    "fieldworker_id",
    "status",
    "reply_code",
    "expires_at",
    "created_at",
)


def reply_code(taken: set[int]) -> int:
    """A random reply code (1000-9999) not in `taken`, which it is added to."""
    code = 1000 + secrets.randbelow(9000)
    while code in taken:
        code = 1000 + secrets.randbelow(9000)
    taken.add(code)
    return code


class RequestStoreMixin:
    """Creates requests; mixed into `TortoiseUnitOfWork`."""

    fresh_subjects: set[int]

    async def create_request(
        self, job_id: int, booking_id: int, fieldworker_id: int, expires_at: datetime | None
    ) -> RequestView:
        """Insert a pending request (`TortoiseUnitOfWork` does)."""
        raise NotImplementedError

    async def create_requests(
        self,
        job_id: int,
        booking_id: int,
        fws: Sequence[int],
        expires_at: datetime | None,
    ) -> list[RequestView]:
        """Insert a pending request per fieldworker, each with a reply code unique among that
        fieldworker's open ones: three statements however many are asked (one is one insert)."""
        if len(fws) <= 1:
            return [await self.create_request(job_id, booking_id, fw, expires_at) for fw in fws]
        # Plain rows both ways: no model is built per request (`models.rows`).
        taken: dict[int, set[int]] = {fw: set() for fw in fws}
        pending = await rows.select_in(
            "SELECT fieldworker_id, reply_code FROM job_request WHERE status = ? "
            "AND fieldworker_id IN",
            list(taken),
            before=[PENDING],
        )
        for row in pending:
            taken[row["fieldworker_id"]].add(row["reply_code"])
        codes = {fw: reply_code(taken[fw]) for fw in fws}
        created_at = rows.created_now()
        inserted = await rows.insert(
            t.JobRequest,
            _COLUMNS,
            [(job_id, booking_id, fw, PENDING, codes[fw], expires_at, created_at) for fw in fws],
            returning="id, fieldworker_id",
        )
        # (job, fieldworker) is unique: each new row is known by its fieldworker.
        ids = {row["fieldworker_id"]: row["id"] for row in inserted}
        self.fresh_subjects.update(ids.values())
        status = RequestStatus.PENDING
        return [RequestView(ids[fw], job_id, booking_id, fw, status, None, codes[fw]) for fw in fws]
