"""Stored sweeps: one strategy, a grid of parameter sets (cells), every coin, and per cell the
aggregates across coins and each coin's metrics, stored compactly."""

from __future__ import annotations

import uuid

import numpy as np
from django.db import models

from market_data.models import INTERVAL_CHOICES
from runs.models import BacktestRun, Owned
from strategies.engine import FILL_OPTIONS, METRIC_NAMES, STOP_MODES
from strategies.models import Strategy

# The per-coin metrics of a cell, in this order, one float32 row each (NaN: the coin could not run).
COIN_METRICS: tuple[str, ...] = METRIC_NAMES


def metrics_pack(matrix: np.ndarray) -> bytes:
    """A (len(COIN_METRICS), coins) matrix as little-endian float32 bytes."""
    return np.ascontiguousarray(matrix, dtype="<f4").tobytes()


def metrics_unpack(blob: bytes, coins: int) -> np.ndarray:
    if not blob:
        return np.full((len(COIN_METRICS), coins), np.nan, dtype=np.float32)
    return np.frombuffer(bytes(blob), dtype="<f4").reshape(len(COIN_METRICS), coins)


class SweepQuerySet(models.QuerySet):
    def in_progress(self) -> SweepQuerySet:
        return self.filter(status__in=Sweep.IN_PROGRESS)


class Sweep(Owned):  # its owner and client, as a run's: who may cancel and resume it
    Status = BacktestRun.Status
    IN_PROGRESS = BacktestRun.IN_PROGRESS

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="sweeps")
    # The request: the fixed parameters as given, the grid as given, the search, the objective.
    fixed = models.JSONField(default=dict, blank=True)
    rules = models.JSONField(null=True, blank=True)  # a rule strategy's rules as the sweep ran with them
    grid = models.JSONField(default=dict)
    search = models.JSONField(default=dict)  # {} = every combination; {"random": N, "seed": S}
    objective = models.CharField(max_length=40, default="avg_sharpe_ratio")
    # The swept axes as expanded: [{"name", "values": [...]}], in grid order.
    axes = models.JSONField(default=list)
    start_date = models.CharField(max_length=40, blank=True, default="")
    end_date = models.CharField(max_length=40, blank=True, default="")
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField(null=True, blank=True)
    test_start = models.DateTimeField(null=True, blank=True)
    walk_forward = models.JSONField(null=True, blank=True)  # {"folds": k, "mode": "rolling" | "anchored"}
    interval = models.CharField(max_length=10, choices=INTERVAL_CHOICES, default="1h")
    fee_pct = models.FloatField(default=0.0)
    fill = models.CharField(max_length=10, choices=[(o, o) for o in FILL_OPTIONS], default="close")
    stop_mode = models.CharField(max_length=10, choices=[(o, o) for o in STOP_MODES], default="close")
    slippage_pct = models.FloatField(default=0.0)
    symbols = models.JSONField(default=list, blank=True)
    # The coin axis of every cell's per-coin metrics: [[crypto id, symbol, name], ...] by symbol.
    coins = models.JSONField(default=list)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    owner = models.CharField(max_length=200, blank=True, default="")
    elapsed_time = models.FloatField(null=True, blank=True)
    total = models.IntegerField(default=0)  # cells to run
    completed = models.IntegerField(default=0)
    cancelled_cells = models.IntegerField(default=0)  # cells not run because the sweep was cancelled
    skipped = models.IntegerField(default=0)  # combinations that broke a cross-field rule: never cells
    summary = models.JSONField(null=True, blank=True)  # the `complete` event's: best cell, deflated Sharpe, folds
    objects = SweepQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["client", "status"], name="sweeps_client_status_idx")]

    def __str__(self) -> str:
        return f"sweep {self.id} {self.strategy_id} {self.status}"


class SweepCell(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    sweep = models.ForeignKey(Sweep, on_delete=models.CASCADE, related_name="cells")
    n = models.IntegerField()  # the cell's number, 0.. in grid order
    coordinate = models.JSONField(default=list)  # an index into each axis
    parameters = models.JSONField(default=dict)  # resolved: every parameter of the strategy
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    # Across coins, full precision: {"avg_total_return", ...}; test_aggregates with a test split.
    aggregates = models.JSONField(null=True, blank=True)
    test_aggregates = models.JSONField(null=True, blank=True)
    # Walk-forward: the objective of each train and test window ({"train": [...], "test": [...]}).
    folds = models.JSONField(null=True, blank=True)
    objective = models.FloatField(null=True, blank=True)  # aggregates[sweep.objective], for sorting
    robustness = models.FloatField(null=True, blank=True)  # mean objective of the cell and its neighbours
    # float32 (len(COIN_METRICS), coins): each coin's metrics (models.metrics_pack).
    coin_metrics = models.BinaryField(default=b"", blank=True)
    test_coin_metrics = models.BinaryField(default=b"", blank=True)

    class Meta:
        ordering = ["n"]
        constraints = [models.UniqueConstraint(fields=["sweep", "n"], name="sweeps_cell_sweep_n_uniq")]
        indexes = [models.Index(fields=["sweep", "state"], name="sweeps_cell_state_idx")]

    def __str__(self) -> str:
        return f"{self.sweep_id} cell {self.n} {self.state}"
