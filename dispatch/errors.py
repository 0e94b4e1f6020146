"""Why a command was refused. Nothing was changed; adapters word it (REST maps it to HTTP)."""

from __future__ import annotations


class DispatchError(Exception):
    """A command that cannot be carried out: `code` is stable (the API error code)."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class NotFound(DispatchError):
    """Something the command names does not exist."""


class Invalid(DispatchError):
    """The command's values are not acceptable (a missing reason, an unknown service)."""


class Forbidden(DispatchError):
    """The actor may not do this."""


class Conflict(DispatchError):
    """The state does not allow it now (the job is closed, the fieldworker not eligible)."""


class RetryCommand(Exception):
    """A concurrent change was seen mid-transaction: roll back and run the command again."""
