"""Create the six strategies (ids 1 to 6) with the parameter definitions of spec/ENGINE.md."""

import json

from django.db import migrations


def seed(apps, schema_editor):
    from strategies.engine.registry import STRATEGIES

    Strategy = apps.get_model("strategies", "Strategy")
    StrategyParameter = apps.get_model("strategies", "StrategyParameter")
    for spec in STRATEGIES.values():
        strategy, _ = Strategy.objects.update_or_create(
            id=spec.id,
            defaults={"key": spec.key, "name": spec.name, "description": spec.description, "is_active": True},
        )
        for order, p in enumerate(spec.params, start=1):
            if p.type == "boolean":
                default = "true" if p.default else "false"
            elif p.type == "select":
                default = p.default
            else:
                default = f"{p.default:g}"
            StrategyParameter.objects.update_or_create(
                strategy=strategy,
                parameter_name=p.name,
                defaults={
                    "display_name": p.display_name,
                    "parameter_type": p.type,
                    "default_value": default,
                    "min_value": p.min,
                    "max_value": p.max,
                    "options": json.dumps(list(p.options)) if p.options else "",
                    "display_order": order,
                    "is_active": True,
                },
            )
    if schema_editor.connection.vendor == "postgresql":
        # Explicit ids leave the sequence behind; move it past them.
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('crypto_strategies', 'id'), "
                "(SELECT MAX(id) FROM crypto_strategies))"
            )


def unseed(apps, schema_editor):
    apps.get_model("strategies", "Strategy").objects.filter(id__in=range(1, 7)).delete()


class Migration(migrations.Migration):
    dependencies = [("strategies", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
