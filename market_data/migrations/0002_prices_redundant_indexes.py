"""The price table loses the indexes that duplicate its unique constraint (crypto, datetime, interval):
the foreign key's own index on crypto_id (the constraint's leading column) and the composite index on
(crypto, interval_type, datetime) (the same columns). Every bar written updated all of them.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("market_data", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="price",
            name="idx_crypto_prices_composite",
        ),
        migrations.AlterField(
            model_name="price",
            name="crypto",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="prices",
                to="market_data.cryptocurrency",
            ),
        ),
    ]
