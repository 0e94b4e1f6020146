"""Which presses on a fieldworker's own request can change nothing (answered without a write)."""

from __future__ import annotations

import pytest

from dispatch.commands import Outcome
from dispatch.model import JobStatus, RequestStatus
from dispatch.responding import settled_press


@pytest.mark.parametrize("job", list(JobStatus))
@pytest.mark.parametrize("accept", [True, False])
def test_a_pending_request_always_takes_the_full_path(accept: bool, job: JobStatus) -> None:
    assert settled_press(accept, RequestStatus.PENDING, job) is None


@pytest.mark.parametrize(
    ("req", "job", "outcome"),
    [
        (RequestStatus.ACCEPTED, JobStatus.ASSIGNED, Outcome.ALREADY_ACCEPTED),
        (RequestStatus.WITHDRAWN, JobStatus.ASSIGNED, Outcome.TAKEN),
        (RequestStatus.WITHDRAWN, JobStatus.CANCELLED, Outcome.CLOSED),
        (RequestStatus.EXPIRED, JobStatus.OFFERED, Outcome.CLOSED),
        (RequestStatus.DECLINED, JobStatus.ASSIGNED, Outcome.CLOSED),
    ],
)
def test_accept_on_a_closed_request_is_told_why(
    req: RequestStatus, job: JobStatus, outcome: Outcome
) -> None:
    assert settled_press(True, req, job) is outcome


def test_decline_buttons_on_a_closed_request_are_told_it_is_closed() -> None:
    for request in set(RequestStatus) - {RequestStatus.PENDING}:
        assert settled_press(False, request, JobStatus.ASSIGNED) is Outcome.CLOSED
