"""Trades are stored packed (runs.tradelog) instead of as JSON, and the packed columns uncompressed.

The JSON trades of stored runs are packed into the new columns before the old ones go (the layout
is written out here, as migrations are frozen history). On PostgreSQL the packed columns are kept
out of line without compression (STORAGE EXTERNAL): pglz on some 40 KB per coin was the largest
cost of storing a chunk's results, for little gain on float bytes.
"""

import datetime as dt
import json
import struct

from django.db import migrations, models


def _ns(text):
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * 1_000_000_000


def _pack(trades, with_symbol):
    reasons = sorted({t["reason"] for t in trades})
    symbols = sorted({t["symbol"] for t in trades}) if with_symbol else []
    labels = json.dumps({"reasons": reasons, "symbols": symbols}).encode()
    n = len(trades)
    out = [struct.pack("<4sII", b"TRD1", n, len(labels)), labels]
    out.append(struct.pack(f"<{n}q", *(_ns(t["entry_time"]) for t in trades)))
    out.append(struct.pack(f"<{n}q", *(_ns(t["exit_time"]) for t in trades)))
    for name in ("entry_price", "exit_price", "return_pct"):
        out.append(struct.pack(f"<{n}d", *(float(t[name]) for t in trades)))
    out.append(bytes(reasons.index(t["reason"]) for t in trades))
    if with_symbol:
        out.append(struct.pack(f"<{n}i", *(symbols.index(t["symbol"]) for t in trades)))
    return b"".join(out)


def forwards(apps, schema_editor):
    for model, with_symbol in (("RunResult", False), ("RunPortfolio", True)):
        Model = apps.get_model("runs", model)
        for pk, trades in Model.objects.values_list("pk", "trades").iterator():
            if trades:
                Model.objects.filter(pk=pk).update(trade_log=_pack(trades, with_symbol))


def storage_external(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for model in ("RunResult", "RunPortfolio"):
        table = quote(apps.get_model("runs", model)._meta.db_table)
        for column in ("trade_log", "equity"):
            schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN {quote(column)} SET STORAGE EXTERNAL")


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0006_run_portfolio"),
    ]

    operations = [
        migrations.AddField(
            model_name="runresult", name="trade_log", field=models.BinaryField(blank=True, default=b"")
        ),
        migrations.AddField(
            model_name="runportfolio", name="trade_log", field=models.BinaryField(blank=True, default=b"")
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop, elidable=True),
        migrations.RemoveField(model_name="runresult", name="trades"),
        migrations.RemoveField(model_name="runportfolio", name="trades"),
        migrations.RunPython(storage_external, migrations.RunPython.noop, elidable=True),
    ]
