"""Output shapes of the run API (runs/CONTRACT.md). Metrics are rounded to 2 decimals here;
the database keeps full precision."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .equity import equity_unpack
from .events import rounded_metrics
from .models import BacktestRun, RunResult


def run_links(run_id: Any) -> dict[str, str]:
    return {
        "url": reverse("runs:run-detail", kwargs={"run_id": run_id}),
        "events_url": reverse("runs:run-events", kwargs={"run_id": run_id}),
        "page_url": f"/runs/{run_id}/",
    }


# --- Shapes for the schema (/api/schema/): the views build their bodies with the functions below ---


class RunRequestSerializer(serializers.Serializer):
    """The body of POST /api/runs/ (and of the original POST /api/crypto/backtest/stream).
    Validation is runs.services.run_create's; this only documents the fields."""

    strategy_id = serializers.IntegerField(help_text="id of an active strategy")
    parameters = serializers.DictField(
        required=False, help_text="parameter name -> value; missing ones take their defaults"
    )
    start_date = serializers.CharField(
        required=False, allow_null=True, help_text="YYYY-MM-DD (or an ISO datetime), inclusive"
    )
    end_date = serializers.CharField(
        required=False, allow_null=True, help_text="YYYY-MM-DD (the whole day) or an ISO datetime, inclusive"
    )
    fee_pct = serializers.FloatField(required=False, help_text="fee per fill in percent, 0..5 (default 0)")
    interval = serializers.CharField(required=False, help_text="bar interval, default 1h")
    symbols = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="coin subset; empty = every active coin"
    )


class RunCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    url = serializers.CharField()
    events_url = serializers.CharField()
    page_url = serializers.CharField()
    total = serializers.IntegerField()


class ValidationErrorsSerializer(serializers.Serializer):
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class RunStatusSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()


class StrategyRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()


class MetricsSerializer(serializers.Serializer):
    total_return = serializers.FloatField(allow_null=True)
    win_rate = serializers.FloatField(allow_null=True)
    total_trades = serializers.IntegerField(allow_null=True)
    profitable_trades = serializers.IntegerField(allow_null=True)
    losing_trades = serializers.IntegerField(allow_null=True)
    buy_hold_return = serializers.FloatField(allow_null=True)
    sharpe_ratio = serializers.FloatField(allow_null=True)
    max_drawdown = serializers.FloatField(allow_null=True)
    exposure_pct = serializers.FloatField(allow_null=True)
    stop_loss_exits = serializers.IntegerField(allow_null=True)


class ResultRowSerializer(MetricsSerializer):
    crypto_symbol = serializers.CharField()
    crypto_name = serializers.CharField()
    is_demo = serializers.BooleanField()
    state = serializers.ChoiceField(choices=RunResult.State.choices)
    success = serializers.BooleanField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class TradeSerializer(serializers.Serializer):
    entry_time = serializers.CharField()
    entry_price = serializers.FloatField()
    exit_time = serializers.CharField()
    exit_price = serializers.FloatField()
    return_pct = serializers.FloatField()
    reason = serializers.CharField()


class EquitySerializer(serializers.Serializer):
    times = serializers.ListField(child=serializers.CharField())
    values = serializers.ListField(child=serializers.FloatField())
    buy_hold = serializers.ListField(child=serializers.FloatField())


class ResultDetailSerializer(serializers.Serializer):
    crypto_symbol = serializers.CharField()
    crypto_name = serializers.CharField()
    is_demo = serializers.BooleanField()
    state = serializers.ChoiceField(choices=RunResult.State.choices)
    success = serializers.BooleanField(allow_null=True)
    error = serializers.CharField(allow_null=True)
    bars = serializers.IntegerField(allow_null=True)
    metrics = MetricsSerializer(allow_null=True)
    trades = TradeSerializer(many=True)
    equity = EquitySerializer()


class RunSerializer(serializers.ModelSerializer):
    strategy = serializers.SerializerMethodField()
    start_date = serializers.SerializerMethodField()
    end_date = serializers.SerializerMethodField()
    elapsed_time = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    events_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()

    class Meta:
        model = BacktestRun
        fields = [
            "id",
            "strategy",
            "parameters",
            "start_date",
            "end_date",
            "interval",
            "fee_pct",
            "symbols",
            "status",
            "created_at",
            "started_at",
            "finished_at",
            "elapsed_time",
            "total",
            "completed",
            "successful",
            "failed",
            "summary",
            "url",
            "events_url",
            "page_url",
        ]

    @extend_schema_field(StrategyRefSerializer)
    def get_strategy(self, run: BacktestRun) -> dict[str, Any]:
        return {"id": run.strategy_id, "key": run.strategy.key, "name": run.strategy.name}

    def get_start_date(self, run: BacktestRun) -> str | None:
        return run.start_date or None

    def get_end_date(self, run: BacktestRun) -> str | None:
        return run.end_date or None

    def get_elapsed_time(self, run: BacktestRun) -> float | None:
        return None if run.elapsed_time is None else round(run.elapsed_time, 2)

    def get_url(self, run: BacktestRun) -> str:
        return run_links(run.id)["url"]

    def get_events_url(self, run: BacktestRun) -> str:
        return run_links(run.id)["events_url"]

    def get_page_url(self, run: BacktestRun) -> str:
        return run_links(run.id)["page_url"]


def result_row(result: RunResult) -> dict[str, Any]:
    """One coin of a run: who, whether it succeeded, its rounded metrics (null until done)."""
    return {
        "crypto_symbol": result.crypto_symbol,
        "crypto_name": result.crypto_name,
        "is_demo": result.is_demo,
        "state": result.state,
        "success": result.success,
        "error": result.error or None,
        **rounded_metrics(result.metrics),
    }


class RunDetailSerializer(RunSerializer):
    results = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "results"]

    @extend_schema_field(ResultRowSerializer(many=True))
    def get_results(self, run: BacktestRun) -> list[dict[str, Any]]:
        return [result_row(r) for r in self.context["results"]]


def _iso_seconds(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def result_detail(result: RunResult) -> dict[str, Any]:
    """One coin's stored result: metrics, trades and the equity curve with buy-and-hold."""
    curve = equity_unpack(result.equity)
    return {
        "crypto_symbol": result.crypto_symbol,
        "crypto_name": result.crypto_name,
        "is_demo": result.is_demo,
        "state": result.state,
        "success": result.success,
        "error": result.error or None,
        "bars": result.bars,
        "metrics": rounded_metrics(result.metrics) if result.state == RunResult.State.DONE else None,
        "trades": result.trades or [],
        "equity": {
            "times": [_iso_seconds(t) for t in curve.times.tolist()],
            "values": curve.values.tolist(),
            "buy_hold": curve.buy_hold.tolist(),
        },
    }
