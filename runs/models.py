"""Stored runs: one strategy with one set of parameters against every coin, and one result per coin."""

from __future__ import annotations

import uuid

from django.db import models

from market_data.models import INTERVAL_CHOICES, Cryptocurrency
from strategies.models import Strategy

# The metrics of spec/ENGINE.md, in the order the API lists them. Stored at full precision.
METRIC_FIELDS: tuple[str, ...] = (
    "total_return",
    "win_rate",
    "total_trades",
    "profitable_trades",
    "losing_trades",
    "buy_hold_return",
    "sharpe_ratio",
    "max_drawdown",
    "exposure_pct",
    "stop_loss_exits",
)
INTEGER_METRICS = frozenset({"total_trades", "profitable_trades", "losing_trades", "stop_loss_exits"})
# How the page shows each metric (it reads these from the template, never a copy of its own):
# label, a tooltip, unit ("%" percent, "" plain number, "int"), whether gains are green and losses
# red, and whether the value means nothing for a coin without trades (shown as "–").
METRIC_DISPLAY: dict[str, dict[str, object]] = {
    "total_return": {
        "label": "Return %",
        "title": "Return of the strategy over the period",
        "unit": "%",
        "colour": True,
    },
    "win_rate": {"label": "Win rate", "title": "Share of closed trades that gained", "unit": "%", "needs_trades": True},
    "total_trades": {"label": "Trades", "title": "Closed trades", "unit": "int"},
    "profitable_trades": {"label": "Winning trades", "title": "Trades that gained", "unit": "int"},
    "losing_trades": {"label": "Losing trades", "title": "Trades that lost", "unit": "int"},
    "buy_hold_return": {
        "label": "Buy&Hold %",
        "title": "Return of holding the coin over the period",
        "unit": "%",
        "colour": True,
    },
    "sharpe_ratio": {
        "label": "Sharpe",
        "title": "Annualised Sharpe ratio of the equity curve",
        "unit": "",
        "colour": True,
        "needs_trades": True,
    },
    "max_drawdown": {"label": "Max DD", "title": "Largest fall of equity from a peak", "unit": "%", "colour": True},
    "exposure_pct": {"label": "Exposure", "title": "Share of bars spent in a position", "unit": "%"},
    "stop_loss_exits": {"label": "Stop-losses", "title": "Trades closed by the stop-loss", "unit": "int"},
}
# Fewer closed trades (or bars) than this and a coin's metrics are flagged as resting on too few.
FEW_TRADES = 5
FEW_BARS = 100


class BacktestRunQuerySet(models.QuerySet):
    def in_progress(self) -> BacktestRunQuerySet:
        return self.filter(status__in=BacktestRun.IN_PROGRESS)


class BacktestRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        INTERRUPTED = "interrupted", "Interrupted"

    IN_PROGRESS = (Status.PENDING, Status.RUNNING)
    # Bootstrap colour of each status's badge (text-bg-<style>), read by the pages.
    STATUS_STYLES = {
        Status.PENDING: "secondary",
        Status.RUNNING: "primary",
        Status.COMPLETED: "success",
        Status.FAILED: "danger",
        Status.CANCELLED: "warning",
        Status.INTERRUPTED: "danger",
    }

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="runs")
    # As resolved: every parameter of the strategy, defaults filled in.
    parameters = models.JSONField(default=dict)
    # The dates as requested ("YYYY-MM-DD" or an ISO datetime; "" = open-ended), echoed in events.
    start_date = models.CharField(max_length=40, blank=True, default="")
    end_date = models.CharField(max_length=40, blank=True, default="")
    # The inclusive window they stand for (an end date covers its whole day); null = open-ended.
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    interval = models.CharField(max_length=10, choices=INTERVAL_CHOICES, default="1h")
    fee_pct = models.FloatField(default=0.0)
    # The coin subset as requested; empty = every active coin with bars in the window.
    symbols = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    elapsed_time = models.FloatField(null=True, blank=True)  # seconds from creation to the last coin
    # Coin counts, kept by the jobs with F() updates: completed = successful + failed.
    total = models.IntegerField(default=0)
    completed = models.IntegerField(default=0)
    successful = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)  # pending coins skipped after a cancel
    summary = models.JSONField(null=True, blank=True)  # the `complete` event's summary

    objects = BacktestRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["strategy", "-created_at"], name="runs_strategy_created_idx")]

    def __str__(self) -> str:
        return f"{self.id} {self.strategy_id} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status not in self.IN_PROGRESS


class RunResult(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    run = models.ForeignKey(BacktestRun, on_delete=models.CASCADE, related_name="results")
    crypto = models.ForeignKey(Cryptocurrency, on_delete=models.CASCADE, related_name="run_results")
    # Snapshot of the coin as it was when the run was made, so a stored run reads the same later.
    crypto_symbol = models.CharField(max_length=20)
    crypto_name = models.CharField(max_length=100)
    is_demo = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True, default="")
    bars = models.IntegerField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    total_return = models.FloatField(null=True, blank=True)
    win_rate = models.FloatField(null=True, blank=True)
    total_trades = models.IntegerField(null=True, blank=True)
    profitable_trades = models.IntegerField(null=True, blank=True)
    losing_trades = models.IntegerField(null=True, blank=True)
    buy_hold_return = models.FloatField(null=True, blank=True)
    sharpe_ratio = models.FloatField(null=True, blank=True)
    max_drawdown = models.FloatField(null=True, blank=True)
    exposure_pct = models.FloatField(null=True, blank=True)
    stop_loss_exits = models.IntegerField(null=True, blank=True)

    # [{"entry_time": ISO, "entry_price", "exit_time": ISO, "exit_price", "return_pct", "reason"}, ...]
    trades = models.JSONField(default=list, blank=True)
    # At most 2,000 points of the equity curve with buy-and-hold, packed (runs.equity).
    equity = models.BinaryField(default=b"", blank=True)

    class Meta:
        ordering = ["crypto_symbol"]
        constraints = [models.UniqueConstraint(fields=["run", "crypto"], name="runs_result_run_crypto_uniq")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.crypto_symbol} {self.state}"

    @property
    def success(self) -> bool | None:
        if self.state == self.State.DONE:
            return True
        if self.state == self.State.FAILED:
            return False
        return None

    @property
    def metrics(self) -> dict:
        return {name: getattr(self, name) for name in METRIC_FIELDS}
