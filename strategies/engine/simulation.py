"""The position model of spec/ENGINE.md: one all-in long position at a time.

The bar loop itself is the compiled `simulate_kernel`; this module turns its output
into trade arrays with net returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels import REASON_END_OF_DATA, REASON_SIGNAL, REASON_STOP_LOSS, simulate_kernel

# Indexed by the kernel's reason codes.
REASONS: tuple[str, ...] = ("signal", "stop_loss", "end_of_data")
assert (REASONS[REASON_SIGNAL], REASONS[REASON_STOP_LOSS], REASONS[REASON_END_OF_DATA]) == REASONS


@dataclass(frozen=True, slots=True)
class Simulation:
    """What the position model produced; trade arrays are in trade order."""

    equity: np.ndarray  # float64, one value per bar
    entry_index: np.ndarray  # int64
    exit_index: np.ndarray  # int64
    reason: np.ndarray  # int8 codes into REASONS
    returns: np.ndarray  # float64 net trade returns r (fractions, not %)
    bars_in_position: int
    bar_return_mean: float  # of b = equity[i] / equity[i-1] - 1
    bar_return_std: float  # sample (ddof=1); NaN with fewer than two returns
    drawdown: float  # min(equity / running max - 1), a fraction
    profitable: int  # trades with r > 0
    stop_loss_exits: int


def simulate(
    close: np.ndarray, entry: np.ndarray, exit_: np.ndarray, *, warmup: int, stop_loss_pct: float, fee_pct: float
) -> Simulation:
    """Run the position model from bar `warmup` on; each trade's net return is
    r = exit * (1 - fee) / (entry * (1 + fee)) - 1, with fee = fee_pct / 100; and the
    equity curve's bar-return mean and deviation and its deepest drawdown (metrics.py)."""
    return Simulation(*simulate_kernel(close, entry, exit_, int(warmup), float(stop_loss_pct), fee_pct / 100.0))
