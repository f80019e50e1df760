"""The position model of spec/ENGINE.md: one all-in long position at a time, with the
execution options (fills at the close or the next open, a close or intrabar stop,
slippage).

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

# The execution options' values (spec: "Execution options"); the first of each is the default.
FILL_OPTIONS: tuple[str, ...] = ("close", "next_open")
STOP_MODES: tuple[str, ...] = ("close", "intrabar")

_NONE = np.empty(0)
_NONE.flags.writeable = False  # as the engine's own price views: one compiled specialisation


@dataclass(frozen=True, slots=True)
class Simulation:
    """What the position model produced; trade arrays are in trade order."""

    equity: np.ndarray  # float64, one value per bar
    entry_index: np.ndarray  # int64
    exit_index: np.ndarray  # int64
    entry_price: np.ndarray  # float64 fill prices (slippage included, fee not)
    exit_price: np.ndarray
    reason: np.ndarray  # int8 codes into REASONS
    returns: np.ndarray  # float64 net trade returns r (fractions, not %)
    bars_in_position: int
    bar_return_mean: float  # of b = equity[i] / equity[i-1] - 1
    bar_return_std: float  # sample (ddof=1); NaN with fewer than two returns
    drawdown: float  # min(equity / running max - 1), a fraction
    downside: float  # sqrt(mean(min(b, 0)**2)); 0 when no b is negative
    drawdown_duration: int  # bars, max over i of i - the last j <= i at the running max


def simulate(
    close: np.ndarray,
    entry: np.ndarray,
    exit_: np.ndarray,
    *,
    warmup: int,
    stop_loss_pct: float,
    fee_pct: float,
    open: np.ndarray | None = None,  # noqa: A002 - named as the price column
    low: np.ndarray | None = None,
    fill: str = "close",
    stop_mode: str = "close",
    slippage_pct: float = 0.0,
) -> Simulation:
    """Run the position model from bar `warmup` on, with already checked options: `open`
    is needed with fill="next_open" or stop_mode="intrabar", `low` with "intrabar".
    Each trade's net return is r = exit * (1 - fee) / (entry * (1 + fee)) - 1 of its fill
    prices, with fee = fee_pct / 100; and the equity curve's statistics (metrics.py)."""
    next_open = fill == "next_open"
    intrabar = stop_mode == "intrabar"
    if (next_open or intrabar) and open is None:
        raise ValueError("the open prices are needed with next-open fills or an intrabar stop")
    if intrabar and low is None:
        raise ValueError("the low prices are needed with an intrabar stop")
    return Simulation(
        *simulate_kernel(
            open if open is not None and (next_open or intrabar) else _NONE,
            low if low is not None and intrabar else _NONE,
            close,
            entry,
            exit_,
            int(warmup),
            float(stop_loss_pct),
            fee_pct / 100.0,
            slippage_pct / 100.0,
            next_open,
            intrabar,
        )
    )
