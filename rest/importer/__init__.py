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

The package: `report` (the report and its problems), `reading` (files, CSV rows, row validation),
then one module per kind (`services`, `fieldworkers`, `territories`); the entry points are here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rest.importer.fieldworkers import prepare_fieldworkers
from rest.importer.report import ImportFileError, ImportReport, Writer
from rest.importer.services import prepare_services
from rest.importer.territories import prepare_territories

__all__ = ["KINDS", "ImportFileError", "ImportReport", "Writer", "import_file", "prepare_import"]

KINDS = ("fieldworkers", "services", "territories")

_PREPARE: dict[str, Callable[[Path, ImportReport], Writer]] = {
    "fieldworkers": prepare_fieldworkers,
    "services": prepare_services,
    "territories": prepare_territories,
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
