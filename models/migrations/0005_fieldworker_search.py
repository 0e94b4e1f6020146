"""Matching narrows the fleet in the database: each fieldworker's territories get a stored bounding box, and a narrow table `fieldworker_search` (one row per fieldworker and service, kept by triggers on every write of `fieldworker`) is indexed by service and place."""

import json

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

from dispatch.narrowing import territory_box

# The columns matching filters on, copied from `fieldworker` for each service code in its
# `services` JSON list (strings only: `evaluate` compares codes as strings; a code listed twice
# gives one row). `has_territories` is "territories is not JSON null".
SEARCH_COLUMNS = (
    "fieldworker_id, service_code, status, has_territories, base_lat, base_lon, "
    "area_min_lat, area_max_lat, area_min_lon, area_max_lon"
)
COPIED = (
    "{new}.status, {has_territories}, {new}.base_lat, {new}.base_lon, "
    "{new}.area_min_lat, {new}.area_max_lat, {new}.area_min_lon, {new}.area_max_lon"
)
WATCHED = (
    "services, status, territories, base_lat, base_lon, "
    "area_min_lat, area_max_lat, area_min_lon, area_max_lon"
)


def table(real: str, flag: str) -> list[str]:
    return [
        "CREATE TABLE IF NOT EXISTS fieldworker_search ("
        "fieldworker_id INT NOT NULL, service_code VARCHAR(64) NOT NULL, "
        f"status VARCHAR(16) NOT NULL, has_territories {flag} NOT NULL, "
        f"base_lat {real}, base_lon {real}, area_min_lat {real}, area_max_lat {real}, "
        f"area_min_lon {real}, area_max_lon {real})",
        "CREATE INDEX IF NOT EXISTS fieldworker_search_base ON fieldworker_search "
        "(service_code, base_lat, base_lon, status, has_territories, fieldworker_id)",
        "CREATE INDEX IF NOT EXISTS fieldworker_search_area ON fieldworker_search "
        "(service_code, area_min_lat, area_max_lat, area_min_lon, area_max_lon)",
        "CREATE INDEX IF NOT EXISTS fieldworker_search_fieldworker ON fieldworker_search "
        "(fieldworker_id)",
    ]


SQLITE_FILL = (
    f"INSERT INTO fieldworker_search ({SEARCH_COLUMNS}) "
    "SELECT DISTINCT {new}.id, s.value, "
    + COPIED.replace(
        "{has_territories}",
        "({new}.territories IS NOT NULL AND {new}.territories <> 'null')",
    )
    + " FROM {source}json_each({new}.services) AS s WHERE s.type = 'text'"
)
SQLITE = [
    *table("REAL", "BOOLEAN"),
    "CREATE TRIGGER IF NOT EXISTS fieldworker_search_insert AFTER INSERT ON fieldworker "
    f"BEGIN {SQLITE_FILL.format(new='NEW', source='')}; END",
    f"CREATE TRIGGER IF NOT EXISTS fieldworker_search_update AFTER UPDATE OF {WATCHED} "
    "ON fieldworker BEGIN DELETE FROM fieldworker_search WHERE fieldworker_id = OLD.id; "
    f"{SQLITE_FILL.format(new='NEW', source='')}; END",
    "CREATE TRIGGER IF NOT EXISTS fieldworker_search_delete AFTER DELETE ON fieldworker "
    "BEGIN DELETE FROM fieldworker_search WHERE fieldworker_id = OLD.id; END",
    "DELETE FROM fieldworker_search",
    SQLITE_FILL.format(new="fieldworker", source="fieldworker, "),
]

POSTGRES_FILL = (
    f"INSERT INTO fieldworker_search ({SEARCH_COLUMNS}) "
    "SELECT DISTINCT {new}.id, e #>> '{{}}', "
    + COPIED.replace(
        "{has_territories}",
        "({new}.territories IS NOT NULL AND jsonb_typeof({new}.territories) <> 'null')",
    )
    + " FROM {source}jsonb_array_elements(CASE WHEN jsonb_typeof({new}.services) = 'array' "
    "THEN {new}.services ELSE '[]'::jsonb END) AS e WHERE jsonb_typeof(e) = 'string'"
)
POSTGRES = [
    *table("DOUBLE PRECISION", "BOOLEAN"),
    "CREATE OR REPLACE FUNCTION fieldworker_search_sync() RETURNS trigger AS $$ BEGIN "
    "IF TG_OP <> 'INSERT' THEN DELETE FROM fieldworker_search WHERE fieldworker_id = OLD.id; "
    "END IF; "
    f"IF TG_OP <> 'DELETE' THEN {POSTGRES_FILL.format(new='NEW', source='')}; END IF; "
    "RETURN NULL; END; $$ LANGUAGE plpgsql",
    "DROP TRIGGER IF EXISTS fieldworker_search_sync ON fieldworker",
    "CREATE TRIGGER fieldworker_search_sync AFTER INSERT OR DELETE OR UPDATE OF "
    f"{WATCHED} ON fieldworker FOR EACH ROW EXECUTE FUNCTION fieldworker_search_sync()",
    "DELETE FROM fieldworker_search",
    POSTGRES_FILL.format(new="fieldworker", source="fieldworker, "),
]


async def fill_boxes(client, postgres: bool) -> None:  # noqa: ANN001
    """The territories' bounding boxes of rows stored before this migration."""
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


async def forward(apps, schema_editor) -> None:  # noqa: ANN001 - tortoise's RunPython signature
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    await fill_boxes(client, postgres)
    for statement in POSTGRES if postgres else SQLITE:
        await client.execute_script(statement)


async def backward(apps, schema_editor) -> None:  # noqa: ANN001
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script("DROP TRIGGER IF EXISTS fieldworker_search_sync ON fieldworker")
        await client.execute_script("DROP FUNCTION IF EXISTS fieldworker_search_sync()")
    else:
        for name in ("insert", "update", "delete"):
            await client.execute_script(f"DROP TRIGGER IF EXISTS fieldworker_search_{name}")
    await client.execute_script("DROP TABLE IF EXISTS fieldworker_search")


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
