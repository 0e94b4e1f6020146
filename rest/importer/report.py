"""What an import found and did: the report, its problems, and the file-level error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

#: Checks the valid rows against the database (also when other rows had problems, so that every
#: problem is reported at once) and writes them only when the report has no problem at all; its
#: argument is the company time zone (for new fieldworkers without a `timezone`).
Writer = Callable[[str], Awaitable[None]]


class ImportFileError(Exception):
    """The file as a whole cannot be imported (the CLI exits 2); nothing was read into the DB."""


@dataclass
class ImportReport:
    """What an import did, or (when `errors` is not empty) why it wrote nothing."""

    kind: str
    path: Path
    #: CSV data rows or GeoJSON features read.
    items: int = 0
    created: int = 0
    updated: int = 0
    #: `line N: field: message` / `feature N: field: message`, in file order.
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file was imported (no errors)."""
        return not self.errors

    def summary(self) -> str:
        """The one-line outcome, e.g. `12 fieldworkers: 10 created, 2 updated`."""
        if not self.ok:
            n = len(self.errors)
            return f"{self.path}: {_plural(n, 'error')}, nothing was written"
        if self.kind == "territories":
            fieldworkers = _plural(self.updated, "fieldworker")
            return f"{_plural(self.items, 'feature')}: territories set for {fieldworkers}"
        noun = "service" if self.kind == "services" else "fieldworker"
        return f"{_plural(self.items, noun)}: {self.created} created, {self.updated} updated"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def problem(where: str, field_name: str | None, message: str) -> str:
    """One problem as the report lists it: `where: field: message` (or `where: message`)."""
    return f"{where}: {field_name}: {message}" if field_name else f"{where}: {message}"


def pydantic_problems(
    where: str, exc: ValidationError, rename: Callable[[str], str] = str
) -> list[str]:
    """Every error of a validation, as `where: dotted.field: message`."""
    out = []
    for error in exc.errors(include_url=False):
        parts = [str(p) for p in error["loc"] if p != "[key]"]
        name = rename(".".join(parts)) if parts else None
        out.append(problem(where, name, error["msg"]))
    return out


def add_problems(report: ImportReport, problems: Sequence[str]) -> None:
    """Add the database checks' problems to the file's own, keeping file order."""
    if problems:
        report.errors.extend(problems)
        # Each starts with `line N` or `feature N` (several features: `feature N, feature M`).
        report.errors.sort(key=lambda problem: int(problem.split()[1].rstrip(":,")))
