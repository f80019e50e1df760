"""Packed price series (market_data.models.PricePack): one row per coin and interval, read in place
of the bars' rows when a read misses the caches. On PostgreSQL the packed column is kept out of line
without compression (STORAGE EXTERNAL): float bytes gain little from pglz, and a cold read of
hundreds of coins would pay for decompressing every one.
"""

import django.db.models.deletion
from django.db import migrations, models


def storage_external(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    table = quote(apps.get_model("market_data", "PricePack")._meta.db_table)
    schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN {quote('bars')} SET STORAGE EXTERNAL")


class Migration(migrations.Migration):
    dependencies = [
        ("market_data", "0003_prices_version"),
    ]

    operations = [
        migrations.CreateModel(
            name="PricePack",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "interval_type",
                    models.CharField(
                        choices=[
                            ("1m", "1m"),
                            ("5m", "5m"),
                            ("15m", "15m"),
                            ("30m", "30m"),
                            ("1h", "1h"),
                            ("4h", "4h"),
                            ("1d", "1d"),
                            ("1w", "1w"),
                        ],
                        max_length=10,
                    ),
                ),
                ("version", models.CharField(max_length=32)),
                ("bars", models.BinaryField()),
                (
                    "crypto",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="market_data.cryptocurrency",
                    ),
                ),
            ],
            options={
                "db_table": "crypto_price_packs",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("crypto", "interval_type"), name="crypto_price_packs_crypto_interval_uniq"
                    )
                ],
            },
        ),
        migrations.RunPython(storage_external, migrations.RunPython.noop, elidable=True),
    ]
