"""twilio's async HTTP client with its timeout applied and Twilio's `Retry-After` kept.

twilio 9's `AsyncTwilioHttpClient(timeout=...)` stores the timeout but only uses a per-call one,
so a hung call would wait forever; and the `TwilioRestException` the SDK raises drops the response
headers, so `Retry-After` never reaches the sender. This client fixes both. It never retries: a
retry is a new attempt of an outbox row (a retried POST is a duplicate SMS).
"""

from __future__ import annotations

import email.utils
import json
import math
from datetime import UTC, datetime
from typing import Any

from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response

#: A `Retry-After` beyond this is read as this: a bad header must not park the channel for days.
MAX_RETRY_AFTER = 3600.0


class TwilioRetryAfter(TwilioRestException):  # type: ignore[misc]  # twilio ships no types
    """Twilio refused with a `Retry-After` (429, or 503): `retry_after` says when to come back."""

    def __init__(
        self, status: int, uri: str, msg: str, code: int, method: str, retry_after: float
    ) -> None:
        super().__init__(status, uri, msg, code, method)
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` asks for (seconds or an HTTP date), bounded; None if unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class TwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no types
    """`AsyncTwilioHttpClient` whose `timeout` bounds every call, raising `TwilioRetryAfter`."""

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's own signature
        allow_redirects: bool = False,
    ) -> Response:
        """One HTTP call, bounded by the client's timeout when the caller gives none."""
        response = await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )
        if response.status_code in (429, 503):
            retry_after = parse_retry_after((response.headers or {}).get("Retry-After"))
            if retry_after is not None:
                code, message = _error_of(response)
                raise TwilioRetryAfter(
                    response.status_code,
                    url,
                    f"Twilio asked to retry after {retry_after:g}s: {message}",
                    code,
                    method.upper(),
                    retry_after,
                )
        return response


def _error_of(response: Response) -> tuple[int, str]:
    """Twilio's error code and message from an error body, as the SDK reads them."""
    try:
        body: Any = json.loads(response.text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return response.status_code, response.text[:200]
    code = body.get("code")
    return (code if isinstance(code, int) else response.status_code), str(body.get("message", ""))
