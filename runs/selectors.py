"""Reads of runs for the API and the streams."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import BacktestRun, RunResult


def run_list() -> QuerySet[BacktestRun]:
    return BacktestRun.objects.select_related("strategy").order_by("-created_at")


def run_get(*, run_id: Any) -> BacktestRun | None:
    return BacktestRun.objects.select_related("strategy", "portfolio").filter(id=run_id).first()


def run_exists(*, run_id: Any) -> bool:
    return BacktestRun.objects.filter(id=run_id).exists()


def run_result_rows(*, run: BacktestRun) -> QuerySet[RunResult]:
    """One row per coin, without the heavy trades and equity columns."""
    return RunResult.objects.filter(run=run).defer("trade_log", "equity").order_by("crypto_symbol")


def run_result_get(*, run_id: Any, symbol: str) -> RunResult | None:
    return RunResult.objects.filter(run_id=run_id, crypto_symbol__iexact=symbol).first()
