"""Create the six strategies (ids 1 to 6) with the parameter definitions of spec/ENGINE.md.

The rows are written out here, frozen as they were when this migration was written: a migration is
history and never reads the live engine registry (which may change later)."""

from django.db import migrations

# (parameter_name, display_name, parameter_type, default_value, min_value, max_value, options), in display order
STRATEGIES = (
    {
        "id": 1,
        "key": "rsi",
        "name": "RSI Mean Reversion",
        "description": "Buy when RSI falls below the oversold threshold, sell when it rises above the overbought one.",
        "parameters": (
            ("rsi_period", "RSI period", "integer", "14", 2, 500, ""),
            ("oversold_threshold", "Oversold threshold", "number", "30", 0, 100, ""),
            ("overbought_threshold", "Overbought threshold", "number", "70", 0, 100, ""),
            ("rsi_smoothing", "RSI smoothing", "select", "sma", None, None, '["sma", "wilder"]'),
            ("stop_loss_threshold", "Stop-loss (%)", "number", "10", 0.1, 100, ""),
        ),
    },
    {
        "id": 2,
        "key": "ma_crossover",
        "name": "Moving Average Crossover",
        "description": "Buy when the fast SMA crosses above the slow SMA, sell when it crosses below.",
        "parameters": (
            ("fast_ma_period", "Fast MA period", "integer", "10", 1, 1000, ""),
            ("slow_ma_period", "Slow MA period", "integer", "30", 2, 2000, ""),
            ("stop_loss_threshold", "Stop-loss (%)", "number", "10", 0.1, 100, ""),
        ),
    },
    {
        "id": 3,
        "key": "macd",
        "name": "MACD",
        "description": "Buy when the MACD line crosses above its signal line, sell when it crosses below.",
        "parameters": (
            ("macd_fast_period", "MACD fast period", "integer", "12", 1, 500, ""),
            ("macd_slow_period", "MACD slow period", "integer", "26", 2, 1000, ""),
            ("macd_signal_period", "Signal period", "integer", "9", 1, 500, ""),
            ("stop_loss_threshold", "Stop-loss (%)", "number", "10", 0.1, 100, ""),
        ),
    },
    {
        "id": 4,
        "key": "stochastic",
        "name": "Stochastic Oscillator",
        "description": (
            "Buy when %K crosses above %D in the oversold zone, sell when it crosses below in the overbought zone."
        ),
        "parameters": (
            ("stoch_k_period", "%K period", "integer", "14", 1, 500, ""),
            ("stoch_d_period", "%D period", "integer", "3", 1, 100, ""),
            ("oversold_threshold", "Oversold threshold", "number", "20", 0, 100, ""),
            ("overbought_threshold", "Overbought threshold", "number", "80", 0, 100, ""),
            ("stop_loss_threshold", "Stop-loss (%)", "number", "10", 0.1, 100, ""),
        ),
    },
    {
        "id": 5,
        "key": "bollinger_bands",
        "name": "Bollinger Bands",
        "description": "Buy at or below the lower band, sell at or above the upper band.",
        "parameters": (
            ("bb_period", "Period", "integer", "20", 2, 1000, ""),
            ("bb_std_multiplier", "Std-dev multiplier", "number", "2", 0.1, 10, ""),
            ("stop_loss_threshold", "Stop-loss (%)", "number", "10", 0.1, 100, ""),
        ),
    },
    {
        "id": 6,
        "key": "mean_reversion",
        "name": "Mean Reversion",
        "description": "Buy when the close is the threshold percentage below its SMA, sell when it is back at the SMA.",
        "parameters": (
            ("mr_period", "SMA period", "integer", "20", 2, 1000, ""),
            ("mr_threshold", "Deviation threshold (%)", "number", "5", 0.01, 100, ""),
            ("stop_loss_threshold", "Stop-loss (%)", "number", "10", 0.1, 100, ""),
        ),
    },
)


def seed(apps, schema_editor):
    Strategy = apps.get_model("strategies", "Strategy")
    StrategyParameter = apps.get_model("strategies", "StrategyParameter")
    for row in STRATEGIES:
        strategy, _ = Strategy.objects.update_or_create(
            id=row["id"],
            defaults={"key": row["key"], "name": row["name"], "description": row["description"], "is_active": True},
        )
        for order, (name, display_name, kind, default, low, high, options) in enumerate(row["parameters"], start=1):
            StrategyParameter.objects.update_or_create(
                strategy=strategy,
                parameter_name=name,
                defaults={
                    "display_name": display_name,
                    "parameter_type": kind,
                    "default_value": default,
                    "min_value": low,
                    "max_value": high,
                    "options": options,
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
