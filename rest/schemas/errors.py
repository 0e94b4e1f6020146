"""The error answer every endpoint shares (CONTRACT §4), as the OpenAPI document shows it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rest.schemas.common import OutModel


class TemplateProblem(OutModel):
    """One reason a message template was refused: which part, which line."""

    part: Literal["body", "subject", "parse_mode"]
    line: int | None
    message: str


class ErrorDetail(OutModel):
    """What went wrong."""

    code: str = Field(description="snake_case error code")
    message: str
    field: str | None = Field(description="dotted path of the offending input, if any")
    problems: list[TemplateProblem] | None = Field(
        default=None,
        description="a refused template (`/templates`): every problem, with its part and line",
    )


class ErrorResponse(OutModel):
    """Every error answer."""

    error: ErrorDetail
