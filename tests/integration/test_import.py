"""`dispatchbot import` (CONTRACT §1): bulk loads, all or nothing, on SQLite and PostgreSQL.

`import_file` is called directly on the `db` fixture; one test runs the real CLI in a subprocess
for the exit codes and the stderr line numbers.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from models import tables as t
from rest.importer import ImportFileError, import_file, prepare_import
from tests.factories import add_fieldworker, add_service

REPO = Path(__file__).resolve().parents[2]

PHONE_A = "+14155552671"
PHONE_B = "+351912345678"
SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
FAR_SQUARE = {"type": "Polygon", "coordinates": [[[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


def write_csv(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    """Write `rows` (the header first) as a CSV file."""
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def write_geojson(path: Path, features: Sequence[tuple[dict[str, Any], dict[str, Any]]]) -> Path:
    """Write a FeatureCollection of (geometry, properties) pairs."""
    collection = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": g, "properties": p} for g, p in features],
    }
    path.write_text(json.dumps(collection), encoding="utf-8")
    return path


async def stored(phone: str, **columns: Any) -> t.Fieldworker:
    """A fieldworker the import finds in the database: a name and a phone, no services, no base."""
    return await add_fieldworker("Old Name", phone=phone, at=None, services=(), **columns)


async def counts() -> tuple[int, int]:
    """(services, fieldworkers) rows."""
    return await t.Service.all().count(), await t.Fieldworker.all().count()


# -- services -------------------------------------------------------------------------------------


async def test_services_created(db: str, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "services.csv",
        [
            ["code", "name", "required_skills"],
            ["plumb", "Plumbing", "gas-cert; ladder"],
            ["clean", "Cleaning", ""],
        ],
    )
    report = await import_file("services", path)
    assert report.errors == []
    assert report.summary() == "2 services: 2 created, 0 updated"
    rows = {s.code: s for s in await t.Service.all()}
    assert rows["plumb"].name == "Plumbing"
    assert rows["plumb"].required_skills == ["gas-cert", "ladder"]
    assert rows["clean"].required_skills == []


async def test_services_upsert_by_code(db: str, tmp_path: Path) -> None:
    await add_service("plumb", "Old", skills=["gas-cert"])
    await add_service("paint", "Old paint", skills=["brush"])
    path = write_csv(
        tmp_path / "services.csv",
        [
            ["Code", " Name ", "required_skills"],  # header names: any case, stripped
            ["plumb", "Plumbing", "gas-cert;water"],
            ["paint", "Painting", ""],  # empty cell: skills kept
            ["clean", "Cleaning", "mop"],
        ],
    )
    report = await import_file("services", path)
    assert report.summary() == "3 services: 1 created, 2 updated"
    rows = {s.code: s for s in await t.Service.all()}
    assert len(rows) == 3
    assert (rows["plumb"].name, rows["plumb"].required_skills) == (
        "Plumbing",
        ["gas-cert", "water"],
    )
    assert (rows["paint"].name, rows["paint"].required_skills) == ("Painting", ["brush"])
    assert rows["clean"].required_skills == ["mop"]


async def test_services_duplicate_code_in_file(db: str, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "services.csv",
        [["code", "name"], ["plumb", "Plumbing"], ["clean", "Cleaning"], ["plumb", "Again"]],
    )
    report = await import_file("services", path)
    assert report.errors == ["line 4: code: 'plumb' already appears on line 2"]
    assert await counts() == (0, 0)


# -- fieldworkers ---------------------------------------------------------------------------------

FW_HEADER = [
    "name",
    "phone",
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
]
HOURS = {"mon": [["08:00", "17:00"]], "tue": [["22:00", "06:00"]]}


async def test_fieldworkers_created(db: str, tmp_path: Path) -> None:
    await add_service()
    await add_service("clean", "Cleaning")
    path = write_csv(
        tmp_path / "fw.csv",
        [
            FW_HEADER,
            [
                "Ana Silva",
                "+1 (415) 555-2671",
                "ana@example.com",
                "1001",
                "telegram;sms",
                "plumb;clean",
                "gas-cert",
                "38.72",
                "-9.14",
                "Europe/Lisbon",
                "restricted",
                json.dumps(HOURS),
                json.dumps({"language": "pt", "van": True}),
            ],
            ["Bo", PHONE_B, "", "", "", "", "", "", "", "", "", "", ""],
        ],
    )
    report = await import_file("fieldworkers", path, company_timezone="America/New_York")
    assert report.errors == []
    assert report.summary() == "2 fieldworkers: 2 created, 0 updated"
    ana = await t.Fieldworker.get(phone=PHONE_A)  # normalised to E.164
    assert ana.name == "Ana Silva"
    assert ana.email == "ana@example.com"
    assert ana.telegram_user_id == 1001
    assert ana.channels == ["telegram", "sms"]
    assert ana.services == ["plumb", "clean"]
    assert ana.skills == ["gas-cert"]
    assert (ana.base_lat, ana.base_lon) == (38.72, -9.14)
    assert ana.timezone == "Europe/Lisbon"
    assert ana.status == "restricted"
    assert ana.working_hours == HOURS
    assert ana.custom_fields == {"language": "pt", "van": True}
    bo = await t.Fieldworker.get(phone=PHONE_B)
    # Empty cells: the API's defaults, and the company's time zone.
    assert bo.channels == ["telegram", "sms"]
    assert bo.services == []
    assert bo.base_lat is None
    assert bo.working_hours is None
    assert bo.status == "active"
    assert bo.timezone == "America/New_York"
    assert ana.invite_code and bo.invite_code and ana.invite_code != bo.invite_code


async def test_fieldworkers_upsert_by_phone(db: str, tmp_path: Path) -> None:
    await add_service()
    old = await stored(
        PHONE_A,
        email="old@example.com",
        telegram_user_id=5,
        telegram_chat_id=5,
        skills=["ladder"],
        timezone="Europe/Lisbon",
    )
    path = write_csv(
        tmp_path / "fw.csv",
        [
            ["name", "phone", "email", "telegram_user_id", "services", "skills"],
            ["Ana New", "+1 415 555 2671", "", "77", "plumb", ""],
            ["Bo", PHONE_B, "bo@example.com", "", "", ""],
        ],
    )
    report = await import_file("fieldworkers", path)
    assert report.summary() == "2 fieldworkers: 1 created, 1 updated"
    assert await t.Fieldworker.all().count() == 2
    ana = await t.Fieldworker.get(id=old.id)
    assert ana.name == "Ana New"
    assert ana.services == ["plumb"]
    # Empty cells and absent columns keep the stored values.
    assert ana.email == "old@example.com"
    assert ana.skills == ["ladder"]
    assert ana.timezone == "Europe/Lisbon"
    assert ana.invite_code == old.invite_code
    # A new Telegram account unlinks the old chat, as PATCH does.
    assert (ana.telegram_user_id, ana.telegram_chat_id) == (77, None)


async def test_fieldworkers_duplicate_phone_in_file(db: str, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "fw.csv",
        [["name", "phone"], ["Ana", PHONE_A], ["Bo", PHONE_B], ["Ana again", "+1 415-555-2671"]],
    )
    report = await import_file("fieldworkers", path)
    assert report.errors == [f"line 4: phone: {PHONE_A} already appears on line 2"]
    assert await counts() == (0, 0)


async def test_fieldworker_telegram_id_taken_in_database(db: str, tmp_path: Path) -> None:
    await stored(PHONE_B, telegram_user_id=42)
    path = write_csv(
        tmp_path / "fw.csv",
        [["name", "phone", "telegram_user_id"], ["Ana", PHONE_A, "42"]],
    )
    report = await import_file("fieldworkers", path)
    assert report.errors == [
        "line 2: telegram_user_id: another fieldworker already has telegram_user_id 42"
    ]
    assert await counts() == (0, 1)


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        (["Cy", "555-0100", "", ""], "line 3: phone: not a phone number in international format"),
        (["Cy", "+12025550143", "nope", ""], "line 3: services.0: no service with code 'nope'"),
        (["Cy", "+12025550143", "", '{"mon": [["08:00"'], "line 3: working_hours: not valid JSON"),
        (["Cy", "+12025550143", "", '{"mon": [["8am", "17:00"]]}'], "line 3: working_hours.mon.0"),
        (["", "+12025550143", "", ""], "line 3: name: Field required"),
    ],
    ids=["bad-phone", "unknown-service", "bad-json", "bad-shift", "no-name"],
)
async def test_fieldworkers_one_bad_row_writes_nothing(
    db: str, tmp_path: Path, bad_row: list[str], expected: str
) -> None:
    await add_service()
    await stored(PHONE_A)
    before = await counts()
    path = write_csv(
        tmp_path / "fw.csv",
        [
            ["name", "phone", "services", "working_hours"],
            ["Ana New", PHONE_A, "plumb", ""],  # would update
            bad_row,
            ["Bo", PHONE_B, "plumb", json.dumps(HOURS)],  # would create
        ],
    )
    report = await import_file("fieldworkers", path)
    assert len(report.errors) == 1, report.errors
    assert report.errors[0].startswith(expected), report.errors
    assert await counts() == before
    assert (await t.Fieldworker.get(phone=PHONE_A)).name == "Old Name"


async def test_every_bad_row_is_reported(db: str, tmp_path: Path) -> None:
    """Row checks and database checks both run, so one pass lists every problem, in line order."""
    await add_service()
    path = write_csv(
        tmp_path / "fw.csv",
        [
            ["name", "phone", "lat", "lon", "services", "custom_fields"],
            ["Ana", "12", "", "", "plumb", "{oops"],
            ["Bo", PHONE_B, "", "", "gone", ""],
            ["Cy", "+12025550143", "91", "x", "", ""],
            ["Di", "+12025550144", "1", "2", "", "", "extra"],
            ["Ed", "+12025550145", "1", "2", "plumb", '{"van": true}'],
        ],
    )
    report = await import_file("fieldworkers", path)
    assert [":".join(e.split(":")[:2]) for e in report.errors] == [
        "line 2: custom_fields",
        "line 2: phone",
        "line 3: services.0",
        "line 4: base_location.lat",
        "line 4: base_location.lon",
        "line 5: 7 cells, the header has 6",
    ]
    assert await counts() == (1, 0)


# -- territories ----------------------------------------------------------------------------------


async def test_territories_set_and_merged(db: str, tmp_path: Path) -> None:
    ana = await stored(PHONE_A)
    bo = await stored(PHONE_B, territories=SQUARE)
    cy = await stored("+12025550143", territories=SQUARE)
    path = write_geojson(
        tmp_path / "areas.geojson",
        [
            (SQUARE, {"fieldworker_id": ana.id}),
            (SQUARE, {"phone": "+351 912 345 678"}),
            (FAR_SQUARE, {"phone": PHONE_B, "fieldworker_id": bo.id}),
        ],
    )
    report = await import_file("territories", path)
    assert report.errors == []
    assert report.summary() == "3 features: territories set for 2 fieldworkers"
    assert (await t.Fieldworker.get(id=ana.id)).territories == SQUARE
    merged = (await t.Fieldworker.get(id=bo.id)).territories
    assert merged["type"] == "MultiPolygon"
    assert len(merged["coordinates"]) == 2
    assert (await t.Fieldworker.get(id=cy.id)).territories == SQUARE  # not in the file: kept


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        (
            [(SQUARE, {"fieldworker_id": "ID"}), (BOWTIE, {"phone": PHONE_B})],
            "feature 1: geometry: invalid Polygon: Self-intersection",
        ),
        (
            [(SQUARE, {"fieldworker_id": "ID"}), (SQUARE, {"phone": "+12025550143"})],
            "feature 1: properties.phone: no fieldworker has phone +12025550143",
        ),
        (
            [(SQUARE, {"fieldworker_id": "ID"}), ({"type": "Point", "coordinates": [0, 0]}, {})],
            "feature 1: geometry: Input tag 'Point'",
        ),
    ],
    ids=["bowtie", "unknown-phone", "point"],
)
async def test_territories_one_bad_feature_writes_nothing(
    db: str, tmp_path: Path, features: list[tuple[dict[str, Any], dict[str, Any]]], expected: str
) -> None:
    ana = await stored(PHONE_A)
    await stored(PHONE_B)
    features = [(g, {k: (ana.id if v == "ID" else v) for k, v in p.items()}) for g, p in features]
    report = await import_file("territories", write_geojson(tmp_path / "a.geojson", features))
    assert report.errors and report.errors[0].startswith(expected), report.errors
    assert await t.Fieldworker.filter(territories__isnull=False).count() == 0


# -- whole-file problems --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name", "content", "expected"),
    [
        (
            "fieldworkers",
            "fw.csv",
            "name,email\nAna,a@example.com\n",
            "lacks the required column(s) phone",
        ),
        ("services", "s.csv", "code,name,skils\nplumb,Plumbing,x\n", "unknown column 'skils'"),
        ("services", "s.csv", "", "the file is empty"),
        ("services", "s.csv", "code,name\n", "no rows after the header"),
        ("services", "s.txt", "code,name\nplumb,Plumbing\n", "expected a .csv file"),
        ("services", "missing.csv", None, "no such file"),
        ("territories", "a.geojson", "{not json", "not valid JSON"),
        ("territories", "a.geojson", '{"type": "Feature"}', "expected a GeoJSON FeatureCollection"),
    ],
)
def test_file_problems(
    tmp_path: Path, kind: str, name: str, content: str | None, expected: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportFileError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        prepare_import(kind, path)


# -- the real CLI ---------------------------------------------------------------------------------


def test_cli_exit_codes(tmp_path: Path) -> None:
    db_file = tmp_path / "cli.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{db_file}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "import", "services", str(path)],
            cwd=tmp_path,  # no stray .env
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    good = write_csv(tmp_path / "good.csv", [["code", "name"], ["plumb", "Plumbing"]])
    done = run(good)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1 service: 1 created, 0 updated"

    bad = write_csv(
        tmp_path / "bad.csv",
        [["code", "name"], ["plumb", "Plumbing v2"], ["no spaces allowed", "Oops"]],
    )
    failed = run(bad)
    assert failed.returncode == 1
    assert failed.stderr.startswith("line 3: code: ")
    assert "nothing was written" in failed.stderr

    missing = run(tmp_path / "missing.csv")
    assert missing.returncode == 2
    assert "no such file" in missing.stderr

    with sqlite3.connect(db_file) as conn:
        assert conn.execute("SELECT code, name FROM service").fetchall() == [("plumb", "Plumbing")]
