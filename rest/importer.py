"""Bulk loading (CONTRACT §1): `dispatchbot import fieldworkers|services FILE.csv`,
`dispatchbot import territories FILE.geojson`.

Every import is all or nothing. The whole file is read and every row validated first: each value
goes through the same pydantic model as the matching REST API body (`FieldworkerIn`, `ServiceIn`,
the `territories` field of `FieldworkerPatch`), then through the API's own database checks
(unknown service codes, phone and Telegram id uniqueness). Every problem found is collected as
`line N: field: message` (CSV: physical line numbers, the header being line 1) or
`feature N: field: message` (GeoJSON: N is the 0-based index into `features`). One problem
anywhere and nothing from the file is written. Otherwise everything is written in ONE transaction.

A problem with the file as a whole (missing, wrong extension, not CSV/GeoJSON, empty, a missing
or unknown header column) raises `ImportFileError` before the database is touched.

CSV conventions shared by both CSV kinds:

- Header names are matched case-insensitively; unknown or repeated columns are refused (a typo
  such as `servcies` would otherwise be silently ignored).
- Cells are stripped of surrounding whitespace. Lists are `;`-separated (`plumb;gas`).
- An empty cell means "not given": a new row gets the API's default, an existing row keeps its
  stored value. (So an import never blanks a field; clear one through `PATCH` instead.)
- Blank lines are skipped; a row with more or fewer cells than the header is an error.

`import_file(kind, path)` is the entry point for code and tests (the caller connects tortoise);
`dispatchbot import` (`bot.cli`) connects to `DATABASE_URL`, runs `prepare_import`, prints
errors to stderr (exit 1) or a one-line summary (exit 0), and exits 2 on a file-level problem.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from shapely.geometry import MultiPolygon, mapping, shape
from shapely.ops import unary_union

from dispatch import linking
from dispatch.errors import DispatchError
from models import tables as t
from models.uow import TortoiseUnitOfWork, Transactions
from rest import schemas as s
from rest.errors import ApiError

# Reused as they are, so an imported row is checked and stored exactly like an API body.
from rest.fieldworkers import check_services_exist, fieldworker_columns
from rest.routing import no_constants

KINDS = ("fieldworkers", "services", "territories")

#: Checks the valid rows against the database (also when other rows had problems, so that every
#: problem is reported at once) and writes them only when the report has no problem at all; its
#: argument is the company time zone (for new fieldworkers without a `timezone`).
Writer = Callable[[str], Awaitable[None]]

SERVICE_REQUIRED = ("code", "name")
SERVICE_OPTIONAL = ("required_skills",)

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
_LIST_COLUMNS = frozenset({"channels", "services", "skills", "required_skills"})
_JSON_COLUMNS = frozenset({"working_hours", "custom_fields"})
_INTEGER = re.compile(r"[+-]?\d+")

_ID = TypeAdapter(s.Id)
_PHONE = TypeAdapter(s.Phone)


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


def _problem(where: str, field_name: str | None, message: str) -> str:
    return f"{where}: {field_name}: {message}" if field_name else f"{where}: {message}"


def _pydantic_problems(
    where: str, exc: ValidationError, rename: Callable[[str], str] = str
) -> list[str]:
    """Every error of a validation, as `where: dotted.field: message`."""
    out = []
    for error in exc.errors(include_url=False):
        parts = [str(p) for p in error["loc"] if p != "[key]"]
        name = rename(".".join(parts)) if parts else None
        out.append(_problem(where, name, error["msg"]))
    return out


def _add_problems(report: ImportReport, problems: Sequence[str]) -> None:
    """Add the database checks' problems to the file's own, keeping file order."""
    if problems:
        report.errors.extend(problems)
        # Each starts with `line N` or `feature N` (several features: `feature N, feature M`).
        report.errors.sort(key=lambda problem: int(problem.split()[1].rstrip(":,")))


def _validate_body(model: type[BaseModel], body: Mapping[str, Any]) -> BaseModel:
    """Validate `body` exactly as the REST API validates a JSON request body."""
    return model.model_validate_json(json.dumps(body), strict=True)


# -- reading files --------------------------------------------------------------------------------


def _read_text(path: Path, suffixes: Sequence[str]) -> str:
    if path.suffix.lower() not in suffixes:
        raise ImportFileError(f"{path}: expected a {' or '.join(suffixes)} file")
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not text.strip():
        raise ImportFileError(f"{path}: the file is empty")
    return text


@dataclass
class _CsvRow:
    line: int
    cells: dict[str, str]
    #: Why the row could not be split into the header's columns, if it could not.
    broken: str | None = None


def _records(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, cells) of each non-blank CSV record."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(f"{path}: line {start}: not valid CSV: {exc}") from None
        if any(cell.strip() for cell in record):
            yield start, record


def _read_csv(path: Path, required: Sequence[str], optional: Sequence[str]) -> list[_CsvRow]:
    """The data rows of a CSV file whose header names `required` and some of `optional`."""
    text = _read_text(path, (".csv",))
    records = _records(path, text)
    header_line, header = next(records, (0, []))
    names = [name.strip().lower() for name in header]
    known = (*required, *optional)
    expected = f"columns: {', '.join(required)} (required), {', '.join(optional)}"
    for name in names:
        if not name:
            raise ImportFileError(f"{path}: line {header_line}: an empty column name in the header")
        if name not in known:
            raise ImportFileError(
                f"{path}: line {header_line}: unknown column {name!r}; {expected}"
            )
        if names.count(name) > 1:
            raise ImportFileError(f"{path}: line {header_line}: column {name!r} appears twice")
    missing = [name for name in required if name not in names]
    if missing:
        raise ImportFileError(
            f"{path}: the header lacks the required column(s) {', '.join(missing)}; {expected}"
        )
    if ("lat" in names) != ("lon" in names):
        raise ImportFileError(f"{path}: columns lat and lon go together (base_location)")
    rows = []
    for line, record in records:
        if len(record) != len(names):
            # Reported with the rows: the file is CSV, this one row is broken.
            broken = f"{len(record)} cells, the header has {len(names)}"
            rows.append(_CsvRow(line, {}, broken))
            continue
        rows.append(_CsvRow(line, {n: c.strip() for n, c in zip(names, record, strict=True)}))
    if not rows:
        raise ImportFileError(f"{path}: no rows after the header")
    return rows


def _validate_row(model: type[BaseModel], row: _CsvRow, problems: list[str]) -> Any:
    """The row validated as a `model` API body, or None (its problems added to `problems`).

    A cell that is not JSON leaves its field out, so the row's other fields are still checked and
    every problem of the row is reported at once.
    """
    where = f"line {row.line}"
    if row.broken is not None:
        problems.append(_problem(where, None, row.broken))
        return None
    body, ok = _row_body(row, where, problems)
    try:
        value = _validate_body(model, body)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(where, exc))
        return None
    return value if ok else None


def _row_body(row: _CsvRow, where: str, problems: list[str]) -> tuple[dict[str, Any], bool]:
    """A CSV row as the JSON body the API would receive (empty cells left out); False when a
    JSON cell could not be read (reported in `problems`, left out of the body).
    """
    body: dict[str, Any] = {}
    ok = True
    for name, cell in row.cells.items():
        if not cell:
            continue
        if name in _LIST_COLUMNS:
            body[name] = [item.strip() for item in cell.split(";") if item.strip()]
        elif name in _JSON_COLUMNS:
            try:
                body[name] = json.loads(cell, parse_constant=no_constants)
            except ValueError as exc:
                problems.append(_problem(where, name, f"not valid JSON: {exc}"))
                ok = False
        elif name == "telegram_user_id":
            body[name] = int(cell) if _INTEGER.fullmatch(cell) else cell
        elif name in ("lat", "lon"):
            body.setdefault("base_location", {})[name] = _number(cell)
        else:
            body[name] = cell
    return body, ok


def _number(cell: str) -> float | str:
    """A finite number, else the text itself (for pydantic to refuse with its own message)."""
    try:
        value = float(cell)
    except ValueError:
        return cell
    return value if math.isfinite(value) else cell


# -- services -------------------------------------------------------------------------------------


def _prepare_services(path: Path, report: ImportReport) -> Writer:
    """Upsert services by `code`: a new code is created; an existing code gets the row's `name`
    and, when the cell is not empty, its `required_skills` (which replace the stored ones).
    """
    rows = _read_csv(path, SERVICE_REQUIRED, SERVICE_OPTIONAL)
    report.items = len(rows)
    parsed: list[s.ServiceIn] = []
    seen: dict[str, int] = {}
    for row in rows:
        where = f"line {row.line}"
        service: s.ServiceIn | None = _validate_row(s.ServiceIn, row, report.errors)
        if service is None:
            continue
        if service.code in seen:
            report.errors.append(
                _problem(
                    where, "code", f"{service.code!r} already appears on line {seen[service.code]}"
                )
            )
            continue
        seen[service.code] = row.line
        parsed.append(service)

    async def write(company_timezone: str) -> None:
        if report.errors:
            return  # nothing to check against the database

        async def work(uow: TortoiseUnitOfWork) -> tuple[int, int]:
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


# -- fieldworkers ---------------------------------------------------------------------------------


@dataclass
class _FieldworkerRow:
    where: str
    body: s.FieldworkerIn


def _prepare_fieldworkers(path: Path, report: ImportReport) -> Writer:
    """Upsert fieldworkers by phone (E.164 after normalisation): a new phone is created with an
    invite code; an existing one gets the row's non-empty cells (a changed `telegram_user_id`
    unlinks the old Telegram chat, as `PATCH /fieldworkers/{id}` does).
    """
    rows = _read_csv(path, FIELDWORKER_REQUIRED, FIELDWORKER_OPTIONAL)
    report.items = len(rows)
    parsed: list[_FieldworkerRow] = []
    phones: dict[str, int] = {}
    telegram_ids: dict[int, int] = {}
    for row in rows:
        where = f"line {row.line}"
        fieldworker: s.FieldworkerIn | None = _validate_row(s.FieldworkerIn, row, report.errors)
        if fieldworker is None:
            continue
        if fieldworker.phone is None:
            report.errors.append(
                _problem(where, "phone", "required (the import matches fieldworkers by phone)")
            )
            continue
        if fieldworker.phone in phones:
            report.errors.append(
                _problem(
                    where,
                    "phone",
                    f"{fieldworker.phone} already appears on line {phones[fieldworker.phone]}",
                )
            )
            continue
        tg = fieldworker.telegram_user_id
        if tg is not None and tg in telegram_ids:
            report.errors.append(
                _problem(
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
        _add_problems(report, problems)

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
            problems.append(_problem(row.where, exc.field, exc.message))
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


# -- territories ----------------------------------------------------------------------------------


@dataclass
class _Feature:
    index: int
    territory: s.GeoPolygon | s.GeoMultiPolygon
    fieldworker_id: int | None
    phone: str | None

    @property
    def where(self) -> str:
        return f"feature {self.index}"


def _geometry_field(name: str) -> str:
    return "geometry" + name.removeprefix("territories")


def _read_features(path: Path, report: ImportReport) -> list[_Feature]:
    """The features of a GeoJSON FeatureCollection, each validated; problems go to `report`."""
    text = _read_text(path, (".geojson", ".json"))
    try:
        data = json.loads(text, parse_constant=no_constants)
    except ValueError as exc:
        raise ImportFileError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ImportFileError(f"{path}: expected a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list):
        raise ImportFileError(f"{path}: the FeatureCollection has no `features` list")
    if not features:
        raise ImportFileError(f"{path}: the FeatureCollection has no features")
    report.items = len(features)
    out = []
    for index, feature in enumerate(features):
        where = f"feature {index}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            report.errors.append(_problem(where, "type", "expected a GeoJSON Feature object"))
            continue
        problems: list[str] = []
        territory: s.GeoPolygon | s.GeoMultiPolygon | None = None
        geometry = feature.get("geometry")
        if geometry is None:
            problems.append(_problem(where, "geometry", "a Polygon or MultiPolygon is required"))
        else:
            try:
                patch = _validate_body(s.FieldworkerPatch, {"territories": geometry})
                territory = patch.territories  # type: ignore[attr-defined]
            except ValidationError as exc:
                problems.extend(_pydantic_problems(where, exc, _geometry_field))
        properties = feature.get("properties")
        if not isinstance(properties, dict):
            properties = {}
        fieldworker_id = phone = None
        if properties.get("fieldworker_id") is not None:
            try:
                fieldworker_id = _ID.validate_python(properties["fieldworker_id"], strict=True)
            except ValidationError as exc:
                problems.extend(
                    _pydantic_problems(where, exc, lambda _: "properties.fieldworker_id")
                )
        if properties.get("phone") is not None:
            try:
                phone = _PHONE.validate_python(properties["phone"], strict=True)
            except ValidationError as exc:
                problems.extend(_pydantic_problems(where, exc, lambda _: "properties.phone"))
        if properties.get("fieldworker_id") is None and properties.get("phone") is None:
            problems.append(
                _problem(where, "properties", "needs `fieldworker_id` or `phone` of a fieldworker")
            )
        if problems or territory is None or (fieldworker_id is None and phone is None):
            report.errors.extend(problems)
            continue
        out.append(_Feature(index, territory, fieldworker_id, phone))
    return out


def _merge(features: Sequence[_Feature]) -> dict[str, Any]:
    """One fieldworker's territories: a single feature's geometry as it is, several merged (their
    union) into one MultiPolygon.
    """
    if len(features) == 1:
        return features[0].territory.model_dump(mode="json")
    union = unary_union([shape(f.territory.model_dump(mode="json")) for f in features])
    if not isinstance(union, MultiPolygon):
        union = MultiPolygon([union])
    return json.loads(json.dumps(mapping(union)))


def _prepare_territories(path: Path, report: ImportReport) -> Writer:
    """Set each named fieldworker's `territories`; fieldworkers not in the file keep theirs."""
    features = _read_features(path, report)

    async def write(company_timezone: str) -> None:
        async def work(uow: TortoiseUnitOfWork) -> tuple[list[str], int]:
            return await _write_territories(features, company_timezone, blocked=bool(report.errors))

        problems, report.updated = await Transactions().run(work)
        _add_problems(report, problems)

    return write


async def _write_territories(
    features: Sequence[_Feature], company_timezone: str, *, blocked: bool
) -> tuple[list[str], int]:
    """Resolve the fieldworkers, merge and store their territories; nothing when a feature has a
    problem or the file already had some (`blocked`).
    """
    problems: list[str] = []
    ids = {f.fieldworker_id for f in features if f.fieldworker_id is not None}
    known_ids = set(await t.Fieldworker.filter(id__in=list(ids)).values_list("id", flat=True))
    phones = {f.phone for f in features if f.phone is not None}
    by_phone = dict(await t.Fieldworker.filter(phone__in=list(phones)).values_list("phone", "id"))
    groups: dict[int, list[_Feature]] = {}
    for feature in features:
        target: int | None = None
        if feature.fieldworker_id is not None:
            if feature.fieldworker_id not in known_ids:
                problems.append(
                    _problem(
                        feature.where,
                        "properties.fieldworker_id",
                        f"fieldworker {feature.fieldworker_id} does not exist",
                    )
                )
                continue
            target = feature.fieldworker_id
        if feature.phone is not None:
            by = by_phone.get(feature.phone)
            if by is None:
                problems.append(
                    _problem(
                        feature.where,
                        "properties.phone",
                        f"no fieldworker has phone {feature.phone}",
                    )
                )
                continue
            if target is not None and by != target:
                problems.append(
                    _problem(
                        feature.where,
                        "properties",
                        f"fieldworker_id {target} and phone {feature.phone} "
                        f"(fieldworker {by}) name different fieldworkers",
                    )
                )
                continue
            target = by
        assert target is not None
        groups.setdefault(target, []).append(feature)
    columns: dict[int, Any] = {}
    for fieldworker_id, group in groups.items():
        where = ", ".join(f.where for f in group)
        try:
            patch = _validate_body(s.FieldworkerPatch, {"territories": _merge(group)})
        except ValidationError as exc:
            problems.extend(_pydantic_problems(where, exc, _geometry_field))
            continue
        values = {"territories": patch.territories}  # type: ignore[attr-defined]
        columns[fieldworker_id] = fieldworker_columns(values, company_timezone)["territories"]
    if problems or blocked:
        return problems, 0
    for fieldworker_id, territories in columns.items():
        await t.Fieldworker.filter(id=fieldworker_id).update(territories=territories)
    return [], len(columns)


_PREPARE: dict[str, Callable[[Path, ImportReport], Writer]] = {
    "fieldworkers": _prepare_fieldworkers,
    "services": _prepare_services,
    "territories": _prepare_territories,
}


# -- entry points ---------------------------------------------------------------------------------


def prepare_import(kind: str, path: Path) -> tuple[ImportReport, Writer]:
    """Read and validate `path` as `kind` without touching the database.

    Returns the report (with the problems found so far) and the writer that checks the valid
    rows against the database and, if the whole file passes, writes them in one transaction. Raises
    `ImportFileError` for a problem with the file as a whole.
    """
    path = Path(path)
    report = ImportReport(kind=kind, path=path)
    prepare = _PREPARE.get(kind)
    if prepare is None:
        raise ImportFileError(f"unknown import kind {kind!r}; expected one of {', '.join(KINDS)}")
    return report, prepare(path, report)


async def import_file(kind: str, path: Path, *, company_timezone: str = "UTC") -> ImportReport:
    """Import `path` as `kind` (`fieldworkers`, `services` or `territories`), all or nothing.

    The caller has connected tortoise (`models.db.init_db`). Returns the report: with `errors`
    nothing was written; without, everything was, in one transaction. `company_timezone` is the
    zone a new fieldworker without a `timezone` cell gets (the API uses `TIMEZONE` the same way).
    Raises `ImportFileError` for a problem with the file as a whole (nothing written either).
    """
    report, write = prepare_import(kind, path)
    await write(company_timezone)
    return report
