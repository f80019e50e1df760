"""What a sweep computes from its cells' metrics: the aggregates across coins, the robustness of a
cell (its grid neighbourhood), the deflated Sharpe ratio of the best cell, and the walk-forward
windows. Pure numpy; no Django."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .models import COIN_METRICS

# Per cell, across its coins (those that could run). Higher is better for every one of them
# (a drawdown is negative: closer to 0 is higher), so any can be the objective.
AGGREGATES: tuple[str, ...] = (
    "avg_total_return",
    "median_total_return",
    "avg_sharpe_ratio",
    "avg_max_drawdown",
    "avg_win_rate",
    "total_trades",
    "positive_pct",
    "beat_buy_hold_pct",
)
DEFAULT_OBJECTIVE = "avg_sharpe_ratio"
_ROW = {name: k for k, name in enumerate(COIN_METRICS)}
EULER_GAMMA = 0.5772156649015329


def aggregates(matrix: np.ndarray) -> dict[str, float | int] | None:
    """The aggregates of one cell from its (metrics, coins) matrix; None when no coin could run."""
    ret = matrix[_ROW["total_return"]].astype(np.float64)
    ok = np.isfinite(ret)
    n = int(ok.sum())
    if not n:
        return None

    def col(name: str) -> np.ndarray:
        return matrix[_ROW[name]][ok].astype(np.float64)

    def mean(name: str) -> float | None:  # over the coins where it is finite (a short window's cagr is inf)
        values = col(name)
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else None

    ret = ret[ok]
    return {
        "avg_total_return": float(ret.mean()),
        "median_total_return": float(np.median(ret)),
        "avg_sharpe_ratio": mean("sharpe_ratio"),
        "avg_max_drawdown": mean("max_drawdown"),
        "avg_win_rate": mean("win_rate"),
        "total_trades": int(col("total_trades").sum()),
        "positive_pct": float((ret > 0).sum() / n * 100.0),
        "beat_buy_hold_pct": float((ret > col("buy_hold_return")).sum() / n * 100.0),
        "avg_cagr": mean("cagr"),
        "coins": n,
    }


def metrics_row(metrics: Mapping[str, Any]) -> np.ndarray:
    """A coin's metrics as one column of a cell's matrix (float32; a profit factor of null, no
    losing trade, is +inf)."""
    return np.array(
        [math.inf if metrics[name] is None else float(metrics[name]) for name in COIN_METRICS], dtype=np.float32
    )


def metrics_dict(column: np.ndarray) -> dict[str, Any] | None:
    """A stored column back as metrics (None when the coin could not run); +inf profit factor is null."""
    if not np.isfinite(column[_ROW["total_return"]]):
        return None
    out: dict[str, Any] = {}
    for name, value in zip(COIN_METRICS, column.tolist(), strict=True):
        out[name] = None if math.isinf(value) or math.isnan(value) else value
    return out


def robustness(objectives: Mapping[tuple[int, ...], float]) -> dict[tuple[int, ...], float]:
    """For each cell, the mean objective of the cell and its grid neighbours (one step along one
    swept parameter, the cells that exist), so that a lone spike ranks below a plateau."""
    out = {}
    for coord, value in objectives.items():
        values = [value]
        for axis in range(len(coord)):
            for step in (-1, 1):
                other = (*coord[:axis], coord[axis] + step, *coord[axis + 1 :])
                if other in objectives:
                    values.append(objectives[other])
        out[coord] = float(sum(values) / len(values))
    return out


@dataclass(frozen=True)
class DeflatedSharpe:
    """Bailey and López de Prado (2014), "The Deflated Sharpe Ratio". Sharpe ratios per bar."""

    sharpe: float  # SR of the best cell's returns
    benchmark: float  # SR0: the expected maximum Sharpe of `trials` unskilled trials
    probability: float  # DSR = PSR(SR0)
    trials: int
    observations: int  # T, bar returns
    skewness: float
    kurtosis: float  # not excess: 3 for a normal distribution
    trials_variance: float  # V[SR] across the trials


def deflated_sharpe(returns: np.ndarray, *, trial_sharpes: Sequence[float]) -> DeflatedSharpe | None:
    """DSR of a return series that was the best of `len(trial_sharpes)` trials (their per-bar Sharpes).

        SR0 = sqrt(V[SR]) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))   (g: Euler's constant)
        DSR = Z((SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2))

    None when it is undefined (fewer than 3 returns, no variation)."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    t = r.shape[0]
    std = float(r.std(ddof=1)) if t > 1 else 0.0
    if t < 3 or not std > 0:
        return None
    sr = float(r.mean()) / std
    centred = r - r.mean()
    m2 = float((centred**2).mean())
    skew = float((centred**3).mean()) / m2**1.5
    kurt = float((centred**4).mean()) / m2**2
    n = len(trial_sharpes)
    variance = float(np.var(np.asarray(trial_sharpes, dtype=np.float64), ddof=1)) if n > 1 else 0.0
    z = statistics.NormalDist()
    if n > 1 and variance > 0:
        sr0 = math.sqrt(variance) * (
            (1 - EULER_GAMMA) * z.inv_cdf(1 - 1 / n) + EULER_GAMMA * z.inv_cdf(1 - 1 / (n * math.e))
        )
    else:
        sr0 = 0.0
    denominator = 1 - skew * sr + (kurt - 1) / 4 * sr**2
    if not denominator > 0:
        return None
    probability = z.cdf((sr - sr0) * math.sqrt(t - 1) / math.sqrt(denominator))
    return DeflatedSharpe(sr, sr0, probability, n, t, skew, kurt, variance)


@dataclass(frozen=True)
class Window:
    """A stretch of the sweep's bars, backtested on its own: from `start` to `end` (ns, inclusive);
    with `warm`, the backtest starts W bars earlier so that its first decision falls on `start`,
    and its metrics cover only the bars from `start` on."""

    name: str
    start: int | None
    end: int | None
    warm: bool = False


def windows_plan(
    *, first: int, last: int, test_start: int | None, walk_forward: Mapping[str, Any] | None
) -> list[Window]:
    """The windows every cell is backtested on, `first` and `last` being the first and last bar times.

    1. "train": the bars before test_start (all of them without a split);
    2. "test": from test_start on, warmed up;
    3. walk-forward, k folds: k+1 equal time segments; fold j trains on segment j ("rolling") or
       segments 0..j ("anchored") and tests on segment j+1, warmed up.
    """
    plan = [Window("train", None, None if test_start is None else test_start - 1)]
    if test_start is not None:
        plan.append(Window("test", test_start, None, warm=True))
    if walk_forward:
        k = int(walk_forward["folds"])
        edges = [first + (last - first) * j // (k + 1) for j in range(k + 2)]
        for j in range(k):
            start = edges[0] if walk_forward["mode"] == "anchored" else edges[j]
            plan.append(Window(f"wf_train_{j}", start, edges[j + 1] - 1))
            plan.append(Window(f"wf_test_{j}", edges[j + 1], edges[j + 2] - 1 if j + 2 <= k else last, warm=True))
    return plan
