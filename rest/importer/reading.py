"""Reading import files: text, CSV rows, and each row validated as the matching API body."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from rest.importer.report import ImportFileError, problem, pydantic_problems
from rest.routing import no_constants

_LIST_COLUMNS = frozenset({"channels", "services", "skills", "required_skills"})
_JSON_COLUMNS = frozenset({"working_hours", "custom_fields"})
_INTEGER = re.compile(r"[+-]?\d+")


def validate_body(model: type[BaseModel], body: Mapping[str, Any]) -> BaseModel:
    """Validate `body` exactly as the REST API validates a JSON request body."""
    return model.model_validate_json(json.dumps(body), strict=True)


def read_text(path: Path, suffixes: Sequence[str]) -> str:
    """The UTF-8 text of `path`, refused (ImportFileError) when unreadable, empty or misnamed."""
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


def read_csv(path: Path, required: Sequence[str], optional: Sequence[str]) -> list[_CsvRow]:
    """The data rows of a CSV file whose header names `required` and some of `optional`."""
    text = read_text(path, (".csv",))
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


def validate_row(model: type[BaseModel], row: _CsvRow, problems: list[str]) -> Any:
    """The row validated as a `model` API body, or None (its problems added to `problems`).

    A cell that is not JSON leaves its field out, so the row's other fields are still checked and
    every problem of the row is reported at once.
    """
    where = f"line {row.line}"
    if row.broken is not None:
        problems.append(problem(where, None, row.broken))
        return None
    body, ok = _row_body(row, where, problems)
    try:
        value = validate_body(model, body)
    except ValidationError as exc:
        problems.extend(pydantic_problems(where, exc))
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
                problems.append(problem(where, name, f"not valid JSON: {exc}"))
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
