"""`dispatchbot import fieldworkers FILE.csv`: upsert fieldworkers by phone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dispatch import linking
from dispatch.errors import DispatchError
from models import tables as t
from models.transactions import Transactions
from models.uow import TortoiseUnitOfWork
from rest import schemas as s
from rest.errors import ApiError

# Reused as they are, so an imported row is checked and stored exactly like an API body.
from rest.fieldworkers import check_services_exist, fieldworker_columns
from rest.importer.reading import read_csv, validate_row
from rest.importer.report import ImportReport, Writer, add_problems, problem

FIELDWORKER_REQUIRED = ("name", "phone")
FIELDWORKER_OPTIONAL = (
    "email",
    "telegram_user_id",
    "channels",
    "services",
    "skills",
    "lat",
    "lon",
    "timezone",
    "status",
    "working_hours",
    "custom_fields",
)


@dataclass
class _FieldworkerRow:
    where: str
    body: s.FieldworkerIn


def prepare_fieldworkers(path: Path, report: ImportReport) -> Writer:
    """Upsert fieldworkers by phone (E.164 after normalisation): a new phone is created with an
    invite code; an existing one gets the row's non-empty cells (a changed `telegram_user_id`
    unlinks the old Telegram chat, as `PATCH /fieldworkers/{id}` does).
    """
    rows = read_csv(path, FIELDWORKER_REQUIRED, FIELDWORKER_OPTIONAL)
    report.items = len(rows)
    parsed: list[_FieldworkerRow] = []
    phones: dict[str, int] = {}
    telegram_ids: dict[int, int] = {}
    for row in rows:
        where = f"line {row.line}"
        fieldworker: s.FieldworkerIn | None = validate_row(s.FieldworkerIn, row, report.errors)
        if fieldworker is None:
            continue
        if fieldworker.phone is None:
            report.errors.append(
                problem(where, "phone", "required (the import matches fieldworkers by phone)")
            )
            continue
        if fieldworker.phone in phones:
            report.errors.append(
                problem(
                    where,
                    "phone",
                    f"{fieldworker.phone} already appears on line {phones[fieldworker.phone]}",
                )
            )
            continue
        tg = fieldworker.telegram_user_id
        if tg is not None and tg in telegram_ids:
            report.errors.append(
                problem(
                    where, "telegram_user_id", f"{tg} already appears on line {telegram_ids[tg]}"
                )
            )
            continue
        phones[fieldworker.phone] = row.line
        if tg is not None:
            telegram_ids[tg] = row.line
        parsed.append(_FieldworkerRow(where, fieldworker))

    async def write(company_timezone: str) -> None:
        async def work(uow: TortoiseUnitOfWork) -> tuple[list[str], int, int]:
            return await _write_fieldworkers(
                uow, parsed, list(phones), company_timezone, blocked=bool(report.errors)
            )

        problems, report.created, report.updated = await Transactions().run(work)
        add_problems(report, problems)

    return write


async def _write_fieldworkers(
    uow: TortoiseUnitOfWork,
    parsed: Sequence[_FieldworkerRow],
    phones: list[str],
    company_timezone: str,
    *,
    blocked: bool,
) -> tuple[list[str], int, int]:
    """Check the rows against the database, then write them all; nothing when a row has a
    problem or the file already had some (`blocked`).
    """
    problems: list[str] = []
    existing = {fw.phone: fw for fw in await t.Fieldworker.filter(phone__in=list(phones))}
    plan: list[tuple[t.Fieldworker | None, dict[str, Any]]] = []
    for row in parsed:
        fw = existing.get(row.body.phone)
        if fw is None:
            values = {k: getattr(row.body, k) for k in s.FieldworkerIn.model_fields}
        else:
            values = {k: getattr(row.body, k) for k in row.body.model_fields_set}
        columns = fieldworker_columns(values, company_timezone)
        try:
            if row.body.services:
                await check_services_exist(row.body.services)
            await linking.check_identifiers_free(
                uow,
                fw.id if fw is not None else None,
                phone=columns.get("phone"),
                telegram_user_id=columns.get("telegram_user_id"),
            )
        except (ApiError, DispatchError) as exc:
            problems.append(problem(row.where, exc.field, exc.message))
            continue
        plan.append((fw, columns))
    if problems or blocked:
        return problems, 0, 0
    created = updated = 0
    for fw, columns in plan:
        if fw is None:
            await t.Fieldworker.create(**columns, invite_code=await linking.new_invite_code(uow))
            created += 1
            continue
        if "telegram_user_id" in columns and not linking.edit_keeps_chat(
            fw.telegram_user_id, columns["telegram_user_id"]
        ):
            # Same rule as PATCH /fieldworkers/{id}.
            fw.telegram_chat_id = None
            fw.telegram_username = None
        for key, value in columns.items():
            setattr(fw, key, value)
        await fw.save()
        updated += 1
    return [], created, updated
