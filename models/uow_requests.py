"""Job requests created in bulk (a broadcast) for `TortoiseUnitOfWork`."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from dispatch.model import RequestStatus
from dispatch.ports import RequestView
from models import tables as t
from models.views import _request_view


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
        taken: dict[int, set[int]] = {fw: set() for fw in fws}
        pending = await t.JobRequest.filter(
            fieldworker_id__in=list(taken), status=RequestStatus.PENDING.value
        ).values_list("fieldworker_id", "reply_code")
        for fw, code in pending:
            taken[fw].add(code)
        await t.JobRequest.bulk_create(
            [
                t.JobRequest(
                    job_id=job_id,
                    booking_id=booking_id,
                    fieldworker_id=fw,
                    reply_code=reply_code(taken[fw]),
                    expires_at=expires_at,
                )
                for fw in fws
            ]
        )
        # (job, fieldworker) is unique: the new rows are these.
        rows = await t.JobRequest.filter(job_id=job_id, fieldworker_id__in=list(taken))
        by_fieldworker = {r.fieldworker_id: r for r in rows}
        created = [by_fieldworker[fw] for fw in fws]
        self.fresh_subjects.update(r.id for r in created)
        return [_request_view(r) for r in created]
