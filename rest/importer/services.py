"""`dispatchbot import services FILE.csv`: upsert services by `code`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from models import tables as t
from models.transactions import Transactions
from models.uow import TortoiseUnitOfWork
from rest import schemas as s
from rest.importer.reading import read_csv, validate_row
from rest.importer.report import ImportReport, Writer, problem

SERVICE_REQUIRED = ("code", "name")
SERVICE_OPTIONAL = ("required_skills",)


def prepare_services(path: Path, report: ImportReport) -> Writer:
    """Upsert services by `code`: a new code is created; an existing code gets the row's `name`
    and, when the cell is not empty, its `required_skills` (which replace the stored ones).
    """
    rows = read_csv(path, SERVICE_REQUIRED, SERVICE_OPTIONAL)
    report.items = len(rows)
    parsed: list[s.ServiceIn] = []
    seen: dict[str, int] = {}
    for row in rows:
        where = f"line {row.line}"
        service: s.ServiceIn | None = validate_row(s.ServiceIn, row, report.errors)
        if service is None:
            continue
        if service.code in seen:
            report.errors.append(
                problem(
                    where, "code", f"{service.code!r} already appears on line {seen[service.code]}"
                )
            )
            continue
        seen[service.code] = row.line
        parsed.append(service)

    async def write(_company_timezone: str) -> None:
        if report.errors:
            return  # nothing to check against the database

        async def work(_uow: TortoiseUnitOfWork) -> tuple[int, int]:
            return await _write_services(parsed)

        report.created, report.updated = await Transactions().run(work)

    return write


async def _write_services(parsed: Sequence[s.ServiceIn]) -> tuple[int, int]:
    """Create or update every service; returns (created, updated)."""
    existing = {row.code: row for row in await t.Service.filter(code__in=[p.code for p in parsed])}
    created = updated = 0
    for service in parsed:
        row = existing.get(service.code)
        if row is None:
            await t.Service.create(
                code=service.code, name=service.name, required_skills=service.required_skills
            )
            created += 1
            continue
        row.name = service.name
        if "required_skills" in service.model_fields_set:
            row.required_skills = service.required_skills
        await row.save()
        updated += 1
    return created, updated
