"""Errors over HTTP: the one error shape of CONTRACT §4 and the core's refusals as statuses.

Every failure of a request ends in `error_middleware` as `{"error": {"code", "message",
"field"}}`; `http_status` is the only place that maps a `DispatchError` to an HTTP status.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from tortoise.exceptions import IntegrityError

from dispatch.errors import Conflict, DispatchError, Forbidden, Invalid, NotFound
from rest import schemas as s

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answer: `status`, a snake_case `code`, a readable `message`, the input `field`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})
        #: More members of the error object, documented in `ErrorDetail` (`problems`).
        self.extra = dict(extra or {})


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> web.Response:
    """The one error shape of CONTRACT §4 (`extra`: members `ErrorDetail` documents)."""
    body = {"error": {"code": code, "message": message, "field": field, **(extra or {})}}
    return web.json_response(body, status=status, headers=headers)


def validation_error(exc: ValidationError, *, prefix: str = "") -> ApiError:
    """422 naming the first invalid field (dotted path) with pydantic's reason."""
    first = exc.errors(include_url=False)[0]
    parts = [str(p) for p in first["loc"] if p != "[key]"]
    field = prefix + ".".join(parts) if parts else (prefix.rstrip(".") or None)
    kind = first["type"]
    if kind in s.CUSTOM_ERROR_CODES:
        code = kind
    elif kind == "extra_forbidden":
        code = "unknown_field"
    elif kind == "missing":
        code = "missing_field"
    elif parts and parts[0] == "territories":
        code = "invalid_geometry"
    else:
        code = "invalid_value"
    if kind == "extra_forbidden":
        message = f"unknown field {field!r}"
    elif kind == "missing":
        message = f"{field!r} is required"
    else:
        message = f"{field}: {first['msg']}" if field else first["msg"]
    return ApiError(422, code, message, field)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


#: How the core's refusals read over HTTP: the only place that knows.
_DISPATCH_STATUS: tuple[tuple[type[DispatchError], int], ...] = (
    (NotFound, 404),
    (Invalid, 422),
    (Forbidden, 403),
    (Conflict, 409),
)


def http_status(exc: DispatchError) -> int:
    """The HTTP status of a refusal by the dispatch core."""
    return next((status for kind, status in _DISPATCH_STATUS if isinstance(exc, kind)), 409)


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every failure into the contract's error shape; log the unexpected ones."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers, exc.extra)
    except DispatchError as exc:
        return error_response(http_status(exc), exc.code, exc.message, exc.field)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status) or re.sub(r"\W+", "_", exc.reason.lower()).strip("_")
        if exc.status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif exc.status == 405:
            message = f"{request.method} is not allowed on {request.path}"
        else:
            message = exc.reason
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return error_response(exc.status, code, message, None, headers)
    except IntegrityError:
        # A uniqueness race the explicit checks could not see (two writers at once).
        log.info("integrity conflict on %s %s", request.method, request.path, exc_info=True)
        return error_response(409, "duplicate", "conflicts with an existing record")
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error; see the server log")
