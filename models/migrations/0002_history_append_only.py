"""The history is append-only: the database itself refuses UPDATE and DELETE on it."""

from tortoise import migrations
from tortoise.migrations import operations as ops

SQLITE = [
    "CREATE TRIGGER history_no_update BEFORE UPDATE ON history "
    "BEGIN SELECT RAISE(ABORT, 'history is append-only'); END",
    "CREATE TRIGGER history_no_delete BEFORE DELETE ON history "
    "BEGIN SELECT RAISE(ABORT, 'history is append-only'); END",
]
POSTGRES = [
    "CREATE OR REPLACE FUNCTION history_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'history is append-only'; END; $$ LANGUAGE plpgsql",
    "CREATE TRIGGER history_no_change BEFORE UPDATE OR DELETE ON history "
    "FOR EACH ROW EXECUTE FUNCTION history_append_only()",
]


async def forward(apps, schema_editor) -> None:  # noqa: ANN001 - tortoise's RunPython signature
    client = schema_editor.client
    statements = POSTGRES if client.capabilities.dialect == "postgres" else SQLITE
    for statement in statements:
        await client.execute_script(statement)


async def backward(apps, schema_editor) -> None:  # noqa: ANN001
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script("DROP TRIGGER IF EXISTS history_no_change ON history")
        await client.execute_script("DROP FUNCTION IF EXISTS history_append_only()")
    else:
        await client.execute_script("DROP TRIGGER IF EXISTS history_no_update")
        await client.execute_script("DROP TRIGGER IF EXISTS history_no_delete")


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
