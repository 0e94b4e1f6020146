"""`dispatchbot import territories FILE.geojson`: set fieldworkers' territories."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.ops import unary_union

from models import tables as t
from models.transactions import Transactions
from models.uow import TortoiseUnitOfWork
from rest import schemas as s

# Reused as they are, so an imported territory is checked and stored exactly like an API body.
from rest.fieldworkers import fieldworker_columns
from rest.importer.reading import read_text, validate_body
from rest.importer.report import (
    ImportFileError,
    ImportReport,
    Writer,
    add_problems,
    problem,
    pydantic_problems,
)
from rest.routing import no_constants

_ID = TypeAdapter(s.Id)
_PHONE = TypeAdapter(s.Phone)


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
    features = _feature_list(path)
    report.items = len(features)
    out = []
    for index, feature in enumerate(features):
        where = f"feature {index}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            report.errors.append(problem(where, "type", "expected a GeoJSON Feature object"))
            continue
        problems: list[str] = []
        territory = _territory(where, feature.get("geometry"), problems)
        properties = feature.get("properties")
        fieldworker_id, phone = _owner(
            where, properties if isinstance(properties, dict) else {}, problems
        )
        if problems or territory is None or (fieldworker_id is None and phone is None):
            report.errors.extend(problems)
            continue
        out.append(_Feature(index, territory, fieldworker_id, phone))
    return out


def _feature_list(path: Path) -> list[Any]:
    """The `features` of the file's FeatureCollection; a file that is not one is refused whole."""
    text = read_text(path, (".geojson", ".json"))
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
    return features


def _territory(
    where: str, geometry: Any, problems: list[str]
) -> s.GeoPolygon | s.GeoMultiPolygon | None:
    """The feature's geometry, validated exactly like the API's `territories`."""
    if geometry is None:
        problems.append(problem(where, "geometry", "a Polygon or MultiPolygon is required"))
        return None
    try:
        patch = validate_body(s.FieldworkerPatch, {"territories": geometry})
    except ValidationError as exc:
        problems.extend(pydantic_problems(where, exc, _geometry_field))
        return None
    return patch.territories  # type: ignore[attr-defined,no-any-return]


def _owner(
    where: str, properties: dict[str, Any], problems: list[str]
) -> tuple[int | None, str | None]:
    """The fieldworker a feature names, by `fieldworker_id` or `phone` (validated)."""
    fieldworker_id = phone = None
    if properties.get("fieldworker_id") is not None:
        try:
            fieldworker_id = _ID.validate_python(properties["fieldworker_id"], strict=True)
        except ValidationError as exc:
            problems.extend(pydantic_problems(where, exc, lambda _: "properties.fieldworker_id"))
    if properties.get("phone") is not None:
        try:
            phone = _PHONE.validate_python(properties["phone"], strict=True)
        except ValidationError as exc:
            problems.extend(pydantic_problems(where, exc, lambda _: "properties.phone"))
    if properties.get("fieldworker_id") is None and properties.get("phone") is None:
        problems.append(
            problem(where, "properties", "needs `fieldworker_id` or `phone` of a fieldworker")
        )
    return fieldworker_id, phone


def _merge(features: Sequence[_Feature]) -> dict[str, Any]:
    """One fieldworker's territories: a single feature's geometry as it is, several merged (their
    union) into one MultiPolygon.
    """
    if len(features) == 1:
        return features[0].territory.model_dump(mode="json")
    union = unary_union([shape(f.territory.model_dump(mode="json")) for f in features])
    if not isinstance(union, MultiPolygon):
        union = MultiPolygon([cast(Polygon, union)])
    return cast("dict[str, Any]", json.loads(json.dumps(mapping(union))))


def prepare_territories(path: Path, report: ImportReport) -> Writer:
    """Set each named fieldworker's `territories`; fieldworkers not in the file keep theirs."""
    features = _read_features(path, report)

    async def write(company_timezone: str) -> None:
        async def work(_uow: TortoiseUnitOfWork) -> tuple[list[str], int]:
            return await _write_territories(features, company_timezone, blocked=bool(report.errors))

        problems, report.updated = await Transactions().run(work)
        add_problems(report, problems)

    return write


async def _write_territories(
    features: Sequence[_Feature], company_timezone: str, *, blocked: bool
) -> tuple[list[str], int]:
    """Resolve the fieldworkers, merge and store their territories; nothing when a feature has a
    problem or the file already had some (`blocked`).
    """
    problems: list[str] = []
    ids = {f.fieldworker_id for f in features if f.fieldworker_id is not None}
    known_ids = set(
        cast("list[int]", await t.Fieldworker.filter(id__in=list(ids)).values_list("id", flat=True))
    )
    phones = {f.phone for f in features if f.phone is not None}
    by_phone = dict(await t.Fieldworker.filter(phone__in=list(phones)).values_list("phone", "id"))
    groups: dict[int, list[_Feature]] = {}
    for feature in features:
        target = _target(feature, known_ids, by_phone, problems)
        if target is not None:
            groups.setdefault(target, []).append(feature)
    columns: dict[int, Any] = {}
    for fieldworker_id, group in groups.items():
        where = ", ".join(f.where for f in group)
        try:
            patch = validate_body(s.FieldworkerPatch, {"territories": _merge(group)})
        except ValidationError as exc:
            problems.extend(pydantic_problems(where, exc, _geometry_field))
            continue
        values = {"territories": patch.territories}  # type: ignore[attr-defined]
        columns[fieldworker_id] = fieldworker_columns(values, company_timezone)["territories"]
    if problems or blocked:
        return problems, 0
    for fieldworker_id, territories in columns.items():
        await t.Fieldworker.filter(id=fieldworker_id).update(
            territories=territories, **t.area_columns(territories)
        )
    return [], len(columns)


def _target(
    feature: _Feature, known_ids: set[int], by_phone: dict[str, int], problems: list[str]
) -> int | None:
    """The fieldworker a feature names (by id, by phone, or both agreeing); None with a problem."""
    target: int | None = None
    if feature.fieldworker_id is not None:
        if feature.fieldworker_id not in known_ids:
            message = f"fieldworker {feature.fieldworker_id} does not exist"
            problems.append(problem(feature.where, "properties.fieldworker_id", message))
            return None
        target = feature.fieldworker_id
    if feature.phone is not None:
        by = by_phone.get(feature.phone)
        if by is None:
            message = f"no fieldworker has phone {feature.phone}"
            problems.append(problem(feature.where, "properties.phone", message))
            return None
        if target is not None and by != target:
            message = (
                f"fieldworker_id {target} and phone {feature.phone} "
                f"(fieldworker {by}) name different fieldworkers"
            )
            problems.append(problem(feature.where, "properties", message))
            return None
        target = by
    return target
