"""The engine's compiled kernels: loops over a whole series that numpy cannot express
without losing digits or speed. One module per concern:

| module | contents |
|---|---|
| `checks.py` | the input check (prices positive and finite, times ascending) |
| `rolling.py` | rolling sums and means: exact SMA, standard deviation, plain means for decisions |
| `indicators.py` | EMA, MACD line, Wilder's averages, SMA-smoothed RSI, Stochastic %K |
| `signals.py` | each strategy's entry and exit signals, in one call |
| `simulation.py` | the position model, bar by bar |
| `portfolio.py` | the coins on one account with K slots, time by time |
| `sweep.py` | a sweep's cells on one coin: signals, simulation and metrics per cell and window |
| `equity.py` | the equity curve's statistics |
| `metrics.py` | every metric of a result from its statistics and trades |
| `common.py` | small inlined helpers shared by the others |

Compiled with numba: `cache=True` (machine code cached on disk beside the source, or in
numba's user cache; `NUMBA_CACHE_DIR` overrides), `nogil=True` (worker threads run
backtests in parallel; the kernels share no state), `error_model="numpy"` (a float
division by zero gives inf or NaN, as numpy's). Every kernel is called with float64 (or
int64, bool) arrays and Python scalars only, so each compiles to one specialisation.
Why each is exact: strategies/engine/README.md, "Proofs of exactness".

Every compiled entry point is re-exported here (the server's warm-up test lists them).
"""

from .checks import first_bad_value_kernel
from .equity import _equity_stats, trade_stats_kernel
from .indicators import (
    _extremes_pass,
    ema_difference_kernel,
    ema_kernel,
    rsi_sma_kernel,
    rsi_wilder_kernel,
    stochastic_k_kernel,
    wilder_averages_kernel,
)
from .metrics import metric_values_kernel
from .portfolio import merge_timelines_kernel, portfolio_kernel
from .rolling import rolling_mean_kernel, rolling_mean_nan_kernel, rolling_moments_kernel, sma_kernel
from .signals import (
    bollinger_signals_kernel,
    crossings_kernel,
    ma_crossover_signals_kernel,
    macd_signals_kernel,
    mean_reversion_signals_kernel,
    rsi_sma_signals_kernel,
    stochastic_signals_kernel,
    thresholds_kernel,
)
from .simulation import REASON_END_OF_DATA, REASON_SIGNAL, REASON_STOP_LOSS, simulate_kernel
from .sweep import sweep_coin_kernel

__all__ = [
    "REASON_END_OF_DATA",
    "REASON_SIGNAL",
    "REASON_STOP_LOSS",
    "_equity_stats",
    "_extremes_pass",
    "bollinger_signals_kernel",
    "crossings_kernel",
    "ema_difference_kernel",
    "ema_kernel",
    "first_bad_value_kernel",
    "ma_crossover_signals_kernel",
    "macd_signals_kernel",
    "mean_reversion_signals_kernel",
    "merge_timelines_kernel",
    "metric_values_kernel",
    "portfolio_kernel",
    "rolling_mean_kernel",
    "rolling_mean_nan_kernel",
    "rolling_moments_kernel",
    "rsi_sma_kernel",
    "rsi_sma_signals_kernel",
    "rsi_wilder_kernel",
    "simulate_kernel",
    "sma_kernel",
    "stochastic_k_kernel",
    "stochastic_signals_kernel",
    "sweep_coin_kernel",
    "thresholds_kernel",
    "trade_stats_kernel",
    "wilder_averages_kernel",
]
