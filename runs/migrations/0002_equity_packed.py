"""The equity curve is stored packed (runs.equity) instead of as JSON.

Remove and add rather than alter: PostgreSQL cannot cast jsonb to bytea, and no curve
stored in the short-lived JSON form needs keeping.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0001_initial"),
    ]

    operations = [
        migrations.RemoveField(model_name="runresult", name="equity"),
        migrations.AddField(
            model_name="runresult",
            name="equity",
            field=models.BinaryField(blank=True, default=b""),
        ),
    ]
