"""Matching narrows the fleet in the database: the bounding box of each fieldworker's territories is stored (and filled in for existing rows), with indexes for the travel-radius box, the territory box and (PostgreSQL) service membership."""

import json

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from dispatch.narrowing import territory_box

INDEXES = [
    "CREATE INDEX IF NOT EXISTS fieldworker_base_lat_lon ON fieldworker (base_lat, base_lon)",
    "CREATE INDEX IF NOT EXISTS fieldworker_area_lat ON fieldworker (area_min_lat, area_max_lat)",
]
POSTGRES_INDEXES = [
    # `services @> '["code"]'` (models/uow_candidates.py) is answered from this index.
    "CREATE INDEX IF NOT EXISTS fieldworker_services_gin ON fieldworker "
    "USING GIN (services jsonb_path_ops)",
]
DROP = [
    "DROP INDEX IF EXISTS fieldworker_base_lat_lon",
    "DROP INDEX IF EXISTS fieldworker_area_lat",
    "DROP INDEX IF EXISTS fieldworker_services_gin",
]


async def forward(apps, schema_editor) -> None:  # noqa: ANN001 - tortoise's RunPython signature
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for statement in INDEXES + (POSTGRES_INDEXES if postgres else []):
        await client.execute_script(statement)
    rows = await client.execute_query_dict(
        "SELECT id, territories FROM fieldworker WHERE territories IS NOT NULL"
    )
    update = (
        "UPDATE fieldworker SET area_min_lat = $1, area_max_lat = $2, area_min_lon = $3, "
        "area_max_lon = $4 WHERE id = $5"
        if postgres
        else "UPDATE fieldworker SET area_min_lat = ?, area_max_lat = ?, area_min_lon = ?, "
        "area_max_lon = ? WHERE id = ?"
    )
    for row in rows:
        territories = row["territories"]
        if isinstance(territories, str | bytes):
            territories = json.loads(territories)
        box = territory_box(territories) if isinstance(territories, dict) else None
        if box is not None:
            await client.execute_query(
                update, [box.min_lat, box.max_lat, box.min_lon, box.max_lon, row["id"]]
            )


async def backward(apps, schema_editor) -> None:  # noqa: ANN001
    for statement in DROP:
        await schema_editor.client.execute_script(statement)


class Migration(migrations.Migration):
    dependencies = [("models", "0004_timers")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Fieldworker",
            name="area_min_lat",
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name="Fieldworker",
            name="area_max_lat",
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name="Fieldworker",
            name="area_min_lon",
            field=fields.FloatField(null=True),
        ),
        ops.AddField(
            model_name="Fieldworker",
            name="area_max_lon",
            field=fields.FloatField(null=True),
        ),
        ops.RunPython(forward, backward),
    ]
