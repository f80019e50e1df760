"""A sweep cell's per-coin metrics (float32 arrays) out of line without compression (STORAGE
EXTERNAL), as runs 0007 and market_data 0004 store the runs' and the prices' packed numbers:
pglz cannot shrink float bytes by the quarter it asks for, and with the default storage (EXTENDED)
the server compresses each value in full before storing it as it was (36 KB equity packs, as a
test: 1.1 ms a row with EXTENDED, 0.08 ms with EXTERNAL)."""

from django.db import migrations


def storage_external(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    table = quote(apps.get_model("sweeps", "SweepCell")._meta.db_table)
    for column in ("coin_metrics", "test_coin_metrics"):
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN {quote(column)} SET STORAGE EXTERNAL")


class Migration(migrations.Migration):
    dependencies = [("sweeps", "0004_sweep_owner_client")]

    operations = [migrations.RunPython(storage_external, migrations.RunPython.noop, elidable=True)]
