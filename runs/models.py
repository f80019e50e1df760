"""Stored runs: one strategy with one set of parameters against every coin, and one result per coin."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

from market_data.models import INTERVAL_CHOICES, Cryptocurrency
from strategies.engine import FILL_OPTIONS, METRIC_NAMES, METRICS, STOP_MODES
from strategies.models import Strategy

from .tradelog import trades_unpack

# The metrics of the original system's result events, in its order: the original endpoint's
# stream carries these (runs/CONTRACT.md).
ORIGINAL_METRIC_FIELDS: tuple[str, ...] = (
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
# Every metric of spec/ENGINE.md (both tables, from the engine's one list): the original's first,
# then the others in the engine's order. Stored at full precision.
METRIC_FIELDS: tuple[str, ...] = (
    *ORIGINAL_METRIC_FIELDS,
    *(name for name in METRIC_NAMES if name not in ORIGINAL_METRIC_FIELDS),
)
# Counts; a drawdown's duration in bars is one too (avg_bars_held is a mean, not a count).
INTEGER_METRICS = frozenset(m.name for m in METRICS if m.kind == "int") | {"max_drawdown_duration"}
# How the page shows each metric (it reads these from the template, never a copy of its own): the
# engine's label and description (strategies.engine.METRICS), a unit from its kind ("%" percent,
# "" plain number, "int" a count, a drawdown's duration in bars too), and the page's own flags:
# whether gains are green and losses red (colour), and whether the value means nothing for a coin
# without trades (needs_trades, shown "–").
_UNITS = {"pct": "%", "ratio": "", "int": "int", "bars": ""}
_FLAGS: dict[str, dict[str, bool]] = {
    "total_return": {"colour": True},
    "win_rate": {"needs_trades": True},
    "buy_hold_return": {"colour": True},
    "sharpe_ratio": {"colour": True, "needs_trades": True},
    "max_drawdown": {"colour": True},
    "cagr": {"colour": True},
    "sortino_ratio": {"colour": True, "needs_trades": True},
    "calmar_ratio": {"needs_trades": True},
    "profit_factor": {"needs_trades": True},
    "avg_trade_return": {"colour": True, "needs_trades": True},
    "best_trade": {"needs_trades": True},
    "worst_trade": {"needs_trades": True},
    "avg_bars_held": {"needs_trades": True},
}
METRIC_DISPLAY: dict[str, dict[str, object]] = {
    m.name: {
        "label": m.label,
        "title": m.description,
        "unit": "int" if m.name in INTEGER_METRICS else _UNITS[m.kind],
        **_FLAGS.get(m.name, {}),
    }
    for m in METRICS
}
# Fewer closed trades (or bars) than this and a coin's metrics are flagged as resting on too few.
FEW_TRADES = 5
FEW_BARS = 100

# How each execution option fills, in words (the Methods page, the run header); keyed by the
# engine's own option values (strategies.engine FILL.options, STOP_MODE.options).
FILL_TEXT: dict[str, dict[str, str]] = {
    "fill": {
        "close": "orders fill at the close of the bar that decided them",
        "next_open": "orders decided at a bar's close fill at the next bar's open",
    },
    "stop_mode": {
        "close": "the stop-loss is checked on closes and sells at the close",
        "intrabar": (
            "the stop-loss rests as an order, hit when a bar's low reaches it (a gap through it fills at the open)"
        ),
    },
}
FILL_LABELS: dict[str, dict[str, str]] = {
    "fill": {"close": "At the close", "next_open": "Next bar's open"},
    "stop_mode": {"close": "On closes", "intrabar": "Intrabar (bar's low)"},
}
# The fill presets of the run form, stamped on every run (by their values, so a preset is never stored
# apart from what it stands for); any other combination is "custom".
FILL_PRESETS: tuple[dict[str, Any], ...] = (
    {"key": "original", "label": "At the close (original)", "fill": "close", "stop_mode": "close", "slippage_pct": 0.0},
    {"key": "next_open", "label": "Next open", "fill": "next_open", "stop_mode": "close", "slippage_pct": 0.0},
    {
        "key": "realistic",
        "label": "Next open, intrabar stop, 0.05 % slippage",
        "fill": "next_open",
        "stop_mode": "intrabar",
        "slippage_pct": 0.05,
    },
)
CUSTOM_PRESET = {"key": "custom", "label": "Custom"}


def fill_preset(fill: str, stop_mode: str, slippage_pct: float) -> dict[str, Any]:
    """The preset a run's execution options are, or CUSTOM_PRESET."""
    for preset in FILL_PRESETS:
        if (preset["fill"], preset["stop_mode"]) == (fill, stop_mode) and abs(
            preset["slippage_pct"] - slippage_pct
        ) < 1e-12:
            return preset
    return CUSTOM_PRESET


def fills_text(fill: str, stop_mode: str, slippage_pct: float, fee_pct: float) -> str:
    """How a run's fills were simulated, in one sentence."""
    slip = f"{slippage_pct:g} % slippage against the trader on every fill" if slippage_pct else "no slippage"
    fee = f"a fee of {fee_pct:g} % per fill" if fee_pct else "no fee"
    text = f"{FILL_TEXT['fill'][fill]}; {FILL_TEXT['stop_mode'][stop_mode]}; {slip}; {fee}."
    return text[0].upper() + text[1:]


RUN_NAME_MAX = 100
RUN_NOTE_MAX = 2000


class BacktestRunQuerySet(models.QuerySet):
    def in_progress(self) -> BacktestRunQuerySet:
        return self.filter(status__in=BacktestRun.IN_PROGRESS)


class Owned(models.Model):
    """Who may control a run or a sweep (runs.access), and the client it counts against."""

    # The user who started it, or for an anonymous creator the SHA-256 of the cancel token its 201
    # answer returned; neither (older runs, the original endpoint): staff's.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancel_token_hash = models.CharField(max_length=64, blank=True, default="")
    # The client it counts against while in progress (BACKTEST_CLIENT_CONCURRENCY): "user:<id>" or "addr:<ip>".
    client = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        abstract = True


class BacktestRun(Owned):
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
    # A rule strategy's rules and definitions as the run ran with them (strategies.services.
    # strategy_rules_snapshot), so editing the strategy later leaves the run reproducible; null
    # for a built-in.
    rules = models.JSONField(null=True, blank=True)
    # The dates as requested ("YYYY-MM-DD" or an ISO datetime; "" = open-ended), echoed in events.
    start_date = models.CharField(max_length=40, blank=True, default="")
    end_date = models.CharField(max_length=40, blank=True, default="")
    # The inclusive window they stand for (an end date covers its whole day); null = open-ended.
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    interval = models.CharField(max_length=10, choices=INTERVAL_CHOICES, default="1h")
    fee_pct = models.FloatField(default=0.0)
    # Execution options (spec: "Execution options"); the defaults are the original's fills.
    fill = models.CharField(max_length=10, choices=[(o, o) for o in FILL_OPTIONS], default="close")
    stop_mode = models.CharField(max_length=10, choices=[(o, o) for o in STOP_MODES], default="close")
    slippage_pct = models.FloatField(default=0.0)
    # The account of the run (spec: "Portfolio of a run"): at most this many positions at once;
    # null = as many as the run has coins.
    portfolio_slots = models.IntegerField(null=True, blank=True)
    # The coin subset as requested; empty = every active coin with bars in the window.
    symbols = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Renewed by every chunk stored and by the process holding the run's queued jobs: a run
    # whose heartbeat is older than BACKTEST_LEASE_SECONDS has no live executor (services.batches_recover).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The process whose backend holds the run's jobs ("host:pid:token"; "" when a shared queue
    # holds them): on that host a new process knows at once when it is gone (services.batches_orphans_recover).
    owner = models.CharField(max_length=200, blank=True, default="")
    elapsed_time = models.FloatField(null=True, blank=True)  # seconds from creation to the last coin
    # Coin counts, kept by the jobs with F() updates: completed = successful + failed.
    total = models.IntegerField(default=0)
    completed = models.IntegerField(default=0)
    successful = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)  # pending coins skipped after a cancel
    summary = models.JSONField(null=True, blank=True)  # the `complete` event's summary
    # The trader's own words for the run (editable after it: PATCH /api/runs/<id>/).
    name = models.CharField(max_length=RUN_NAME_MAX, blank=True, default="", db_index=True)
    note = models.TextField(max_length=RUN_NOTE_MAX, blank=True, default="")
    # The bars actually used: the earliest first bar and the latest last bar of the run's coins
    # (stored when it ends; the typed dates may lie outside the data).
    first_bar = models.DateTimeField(null=True, blank=True)
    last_bar = models.DateTimeField(null=True, blank=True)
    objects = BacktestRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["strategy", "-created_at"], name="runs_strategy_created_idx"),
            models.Index(fields=["client", "status"], name="runs_client_status_idx"),
        ]

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
    first_bar = models.DateTimeField(null=True, blank=True)  # the coin's first and last bar in the window
    last_bar = models.DateTimeField(null=True, blank=True)
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
    cagr = models.FloatField(null=True, blank=True)
    sortino_ratio = models.FloatField(null=True, blank=True)
    calmar_ratio = models.FloatField(null=True, blank=True)
    profit_factor = models.FloatField(null=True, blank=True)  # null also when no trade lost but one gained
    avg_trade_return = models.FloatField(null=True, blank=True)
    best_trade = models.FloatField(null=True, blank=True)
    worst_trade = models.FloatField(null=True, blank=True)
    avg_bars_held = models.FloatField(null=True, blank=True)
    max_consecutive_losses = models.IntegerField(null=True, blank=True)
    max_drawdown_duration = models.IntegerField(null=True, blank=True)

    # The trades, packed (runs.tradelog); `trades` gives them as dicts.
    trade_log = models.BinaryField(default=b"", blank=True)
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

    @property
    def trades(self) -> list[dict]:
        """[{"entry_time": ISO, "entry_price", "exit_time": ISO, "exit_price", "return_pct", "reason"}, ...]"""
        return trades_unpack(self.trade_log)


class RunPortfolio(models.Model):
    """A run's coins traded as one account (spec: "Portfolio of a run"), computed when its coins are done."""

    run = models.OneToOneField(BacktestRun, on_delete=models.CASCADE, related_name="portfolio", primary_key=True)
    slots = models.IntegerField()
    coins = models.IntegerField()  # the coins the account traded (the run's successful ones)
    metrics = models.JSONField(default=dict)  # both tables and skipped_entries, full precision (inf: null)
    # Each coin's part of the account's profit and loss (sum of stake * r of its trades), by symbol.
    contributions = models.JSONField(default=dict)
    # The trades, packed (runs.tradelog), each with its symbol; `trades` gives them as dicts.
    trade_log = models.BinaryField(default=b"", blank=True)
    # At most 2,000 points of the account's equity with the equal-weight buy-and-hold of the same coins.
    equity = models.BinaryField(default=b"", blank=True)
    error = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"{self.run_id} portfolio of {self.coins} coins, {self.slots} slots"

    @property
    def trades(self) -> list[dict]:
        """[{"symbol", "entry_time", "entry_price", "exit_time", "exit_price", "return_pct", "reason"}, ...]"""
        return trades_unpack(self.trade_log)
