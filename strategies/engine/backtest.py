"""The engine's entry points: one strategy, one coin, one window of bars.

`backtest_arrays` is the fast path the site uses (float64 arrays and int64 UTC
nanosecond timestamps, no pandas); `backtest` accepts a pandas DataFrame and converts
it. Both validate everything before running anything, then:
indicators and signals (signals.py) -> position model (simulation.py) -> metrics.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InsufficientData, InvalidParameters, InvalidPriceData
from .kernels import first_bad_value_kernel
from .metrics import INTERVAL_MINUTES, compute_metrics
from .registry import FEE_PCT, FILL, SLIPPAGE_PCT, STOP_MODE, coerce_value, min_bars, parameters_resolve, warmup_bars
from .signals import NEEDS_HIGH_LOW, Prices, strategy_signals
from .simulation import REASONS, Simulation, simulate

if TYPE_CHECKING:  # pandas is only needed by `backtest`, imported there
    import pandas as pd

    from .rules import RuleStrategy


@dataclass(frozen=True, slots=True)
class TradeLog:
    """The trades as arrays, in trade order (what `BacktestResult.trades` is built from)."""

    entry_index: np.ndarray  # int64 bar indexes
    exit_index: np.ndarray
    entry_time: np.ndarray  # int64 ns since the epoch, UTC
    exit_time: np.ndarray
    entry_price: np.ndarray  # float64 fill prices (slippage included, fee not)
    exit_price: np.ndarray
    return_pct: np.ndarray  # float64, net of fees
    reason: np.ndarray  # int8 codes into REASONS

    def __len__(self) -> int:
        return int(self.entry_index.shape[0])


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """One backtest's product: full-precision metrics, the trades and the equity curve.

    `trades` are dicts with entry_time / exit_time (int ns since the epoch, UTC),
    entry_index / exit_index (bar indexes), entry_price, exit_price, return_pct (net of
    fees), reason ("signal" | "stop_loss" | "end_of_data") and bars_held (exit_index -
    entry_index); the prices are fill prices (slippage included, fee not). They are built from
    `trade_log` on first access: a caller that only wants the metrics (a parameter
    sweep) does not pay for a few hundred dicts per coin.
    """

    strategy: str
    params: dict[str, Any]
    fee_pct: float
    interval: str
    warmup: int
    metrics: dict[str, Any]
    equity: np.ndarray  # float64, one value per bar
    times: np.ndarray  # int64 ns since the epoch, UTC, one per bar
    trade_log: TradeLog
    fill: str = "close"
    stop_mode: str = "close"
    slippage_pct: float = 0.0

    @cached_property
    def trades(self) -> list[dict[str, Any]]:
        """The trades as plain dicts of Python scalars (JSON-ready)."""
        log = self.trade_log
        return [
            {
                "entry_time": et,
                "entry_price": ep,
                "exit_time": xt,
                "exit_price": xp,
                "return_pct": r,
                "reason": REASONS[code],
                "entry_index": e,
                "exit_index": x,
                "bars_held": x - e,
            }
            for e, x, et, xt, ep, xp, r, code in zip(
                log.entry_index.tolist(),
                log.exit_index.tolist(),
                log.entry_time.tolist(),
                log.exit_time.tolist(),
                log.entry_price.tolist(),
                log.exit_price.tolist(),
                log.return_pct.tolist(),
                log.reason.tolist(),
                strict=True,
            )
        ]


def check_fee_pct(fee_pct: Any) -> float:
    """The per-fill fee in percent, 0..5; InvalidParameters('fee_pct', ...) otherwise."""
    return coerce_value(FEE_PCT, fee_pct)


def check_fill(fill: Any) -> str:
    """ "close" or "next_open"; InvalidParameters('fill', ...) otherwise."""
    return coerce_value(FILL, fill)


def check_stop_mode(stop_mode: Any) -> str:
    """ "close" or "intrabar"; InvalidParameters('stop_mode', ...) otherwise."""
    return coerce_value(STOP_MODE, stop_mode)


def check_slippage_pct(slippage_pct: Any) -> float:
    """The slippage per fill in percent, 0..5; InvalidParameters('slippage_pct', ...) otherwise."""
    return coerce_value(SLIPPAGE_PCT, slippage_pct)


def check_interval(interval: Any) -> str:
    """One of 1m .. 1w; InvalidParameters('interval', ...) otherwise."""
    if not isinstance(interval, str) or interval not in INTERVAL_MINUTES:
        raise InvalidParameters("interval", f"must be one of {list(INTERVAL_MINUTES)}")
    return interval


def backtest_arrays(
    strategy: str | RuleStrategy,
    *,
    times: np.ndarray,
    close: np.ndarray,
    open: np.ndarray | None = None,  # noqa: A002 - named as the price column
    high: np.ndarray | None = None,
    low: np.ndarray | None = None,
    volume: np.ndarray | None = None,
    params: Mapping[str, Any] | None = None,
    fee_pct: float = 0.0,
    interval: str = "1h",
    fill: str = "close",
    stop_mode: str = "close",
    slippage_pct: float = 0.0,
) -> BacktestResult:
    """Backtest `strategy` on one coin's bars, given as arrays, ascending in time.

    Steps:
    1. resolve the parameters, fee, interval and execution options (InvalidParameters);
    2. check the arrays' lengths and the bar count (InvalidPriceData, InsufficientData);
    3. check the values: positive finite prices, strictly ascending times (InvalidPriceData);
    4. signals -> simulation -> metrics and trades.

    `high` and `low` are required by the strategies that read them (stochastic), `open`
    by fill="next_open" and stop_mode="intrabar", `low` by "intrabar" too.
    `strategy` is a built-in's key or a rule strategy (strategies.engine.rules), which
    brings its own parameters, warm-up and signals, and may read open and volume too.
    """
    resolved = parameters_resolve(strategy, params)
    fee = check_fee_pct(fee_pct)
    interval = check_interval(interval)
    fill = check_fill(fill)
    stop_mode = check_stop_mode(stop_mode)
    slippage = check_slippage_pct(slippage_pct)
    warmup = warmup_bars(strategy, resolved)
    stamps, prices, entry, exit_ = coin_signals(
        strategy,
        resolved,
        times=times,
        close=close,
        open=open,
        high=high,
        low=low,
        volume=volume,
        fill=fill,
        stop_mode=stop_mode,
    )
    sim = simulate(
        prices.close,
        entry,
        exit_,
        warmup=warmup,
        stop_loss_pct=resolved["stop_loss_threshold"],
        fee_pct=fee,
        open=prices.open,
        low=prices.low,
        fill=fill,
        stop_mode=stop_mode,
        slippage_pct=slippage,
    )
    return BacktestResult(
        strategy=strategy if isinstance(strategy, str) else strategy.key,
        params=resolved,
        fee_pct=fee,
        interval=interval,
        warmup=warmup,
        metrics=compute_metrics(prices.close, sim, interval),
        equity=sim.equity,
        times=stamps,
        trade_log=_trade_log(stamps, sim),
        fill=fill,
        stop_mode=stop_mode,
        slippage_pct=slippage,
    )


def coin_signals(
    strategy: str,
    resolved: Mapping[str, Any],
    *,
    times: Any,
    close: Any,
    open: Any | None = None,  # noqa: A002 - named as the price column
    high: Any | None = None,
    low: Any | None = None,
    volume: Any | None = None,
    fill: str = "close",
    stop_mode: str = "close",
) -> tuple[np.ndarray, Prices, np.ndarray, np.ndarray]:
    """What backtest_arrays does for one coin up to its signals, with already resolved
    parameters and checked options: (times, prices, entry, exit), the same checks in the
    same order (lengths and bar count, then values)."""
    stamps = _as_times(times)
    prices = _as_prices(
        strategy,
        stamps.shape[0],
        close=close,
        open_=open,
        high=high,
        low=low,
        volume=volume,
        fill=fill,
        stop_mode=stop_mode,
    )
    _check_enough_bars(strategy, resolved, stamps.shape[0])
    _check_values(stamps, prices)
    entry, exit_ = strategy_signals(strategy, prices, resolved)
    return stamps, prices, entry, exit_


def backtest(
    strategy: str | RuleStrategy,
    prices: pd.DataFrame,
    params: Mapping[str, Any] | None = None,
    *,
    fee_pct: float = 0.0,
    interval: str = "1h",
    fill: str = "close",
    stop_mode: str = "close",
    slippage_pct: float = 0.0,
) -> BacktestResult:
    """Backtest `strategy` on a DataFrame of bars (columns open, high, low, close[, volume],
    with a `datetime` column or a DatetimeIndex, ascending). Naive times are taken as UTC."""
    if "close" not in prices.columns:
        raise InvalidPriceData("the prices have no 'close' column")
    columns = {
        name: prices[name].to_numpy(dtype=np.float64) for name in ("open", "high", "low", "volume") if name in prices
    }
    return backtest_arrays(
        strategy,
        times=_frame_times(prices),
        close=prices["close"].to_numpy(dtype=np.float64),
        params=params,
        fee_pct=fee_pct,
        interval=interval,
        fill=fill,
        stop_mode=stop_mode,
        slippage_pct=slippage_pct,
        **columns,
    )


def _frame_times(prices: pd.DataFrame) -> np.ndarray:
    """int64 UTC nanoseconds of a DataFrame's `datetime` column, or of its DatetimeIndex."""
    import pandas as pd

    if "datetime" in prices.columns:
        raw = prices["datetime"]
    elif isinstance(prices.index, pd.DatetimeIndex):
        raw = prices.index
    else:
        raise InvalidPriceData("the prices have neither a 'datetime' column nor a DatetimeIndex")
    stamps = pd.DatetimeIndex(pd.to_datetime(raw, utc=True))
    nat = np.flatnonzero(stamps.isna())
    if nat.size:
        raise InvalidPriceData("datetime is missing", int(nat[0]))
    return stamps.as_unit("ns").asi8


def _as_times(times: Any) -> np.ndarray:
    """The timestamps as a 1-d int64 array of UTC nanoseconds (datetime64 is converted)."""
    if type(times) is np.ndarray and times.dtype == np.int64 and times.ndim == 1 and times.flags.c_contiguous:
        return _read_only(times)  # the site's own arrays: nothing to convert
    arr = np.asarray(times)
    if arr.ndim != 1:
        raise InvalidPriceData(f"times must be one-dimensional, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.datetime64):
        if np.isnat(arr).any():
            raise InvalidPriceData("times has a missing value (NaT)", int(np.flatnonzero(np.isnat(arr))[0]))
        return _read_only(arr.astype("datetime64[ns]").view(np.int64))
    if not np.issubdtype(arr.dtype, np.integer):
        raise InvalidPriceData(f"times must be int64 nanoseconds since the epoch, got dtype {arr.dtype}")
    # contiguous, as the prices: a strided array would be a kernel type (and compilation) of its own
    return _read_only(np.ascontiguousarray(arr, dtype=np.int64))


def _as_prices(
    strategy: str | RuleStrategy,
    bars: int,
    *,
    close: Any,
    open_: Any | None,
    high: Any | None,
    low: Any | None,
    volume: Any | None = None,
    fill: str = "close",
    stop_mode: str = "close",
) -> Prices:
    """The price arrays as contiguous 1-d float64, the same length as the times: the ones
    the strategy and the execution options read (None for the others). A rule strategy
    reads the columns its rules name."""
    reads = set() if isinstance(strategy, str) else set(strategy.columns)
    needs_high = strategy in NEEDS_HIGH_LOW if isinstance(strategy, str) else "high" in reads
    needs_low = (needs_high if isinstance(strategy, str) else "low" in reads) or stop_mode == "intrabar"
    needs_open = fill == "next_open" or stop_mode == "intrabar" or "open" in reads
    needs_volume = "volume" in reads
    if not isinstance(strategy, str):
        given = {"open": open_, "high": high, "low": low, "volume": volume}
        if missing := sorted(c for c in reads if c != "close" and given[c] is None):
            raise InvalidPriceData(f"strategy {strategy.key!r} needs {' and '.join(missing)} prices")
    elif needs_high and (high is None or low is None):
        raise InvalidPriceData(f"strategy {strategy!r} needs high and low prices")
    if needs_open and open_ is None:
        raise InvalidPriceData(f"fill={fill!r} with stop_mode={stop_mode!r} needs open prices")
    if needs_low and low is None:
        raise InvalidPriceData("stop_mode='intrabar' needs low prices")
    return Prices(
        close=_as_column("close", close, bars),
        high=_as_column("high", high, bars) if needs_high else None,
        low=_as_column("low", low, bars) if needs_low else None,
        open=_as_column("open", open_, bars) if needs_open else None,
        volume=_as_column("volume", volume, bars) if needs_volume else None,
    )


def _as_column(name: str, values: Any, bars: int) -> np.ndarray:
    if (
        type(values) is np.ndarray
        and values.dtype == np.float64
        and values.ndim == 1
        and values.flags.c_contiguous
        and values.shape[0] == bars
    ):
        return _read_only(values)  # already what the kernels take
    try:
        arr = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidPriceData(f"{name} is not numeric ({exc})") from None
    if arr.ndim != 1:
        raise InvalidPriceData(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.shape[0] != bars:
        raise InvalidPriceData(f"{name} has {arr.shape[0]} values but times has {bars}")
    return _read_only(arr)


def _read_only(arr: np.ndarray) -> np.ndarray:
    """A read-only view of arr (arr itself if it is one already).

    numba compiles a kernel once per argument type, and a read-only array (the price
    cache's, `np.frombuffer`) is a type of its own. Handing the kernels read-only arrays
    only, whatever the caller passed, means one compilation of each instead of two: a
    new clone's first server start compiles for about 20 s instead of 40. The engine
    never writes to its inputs, so nothing is lost."""
    if not arr.flags.writeable:
        return arr
    view = arr.view()
    view.flags.writeable = False
    return view


def _check_enough_bars(strategy: str, resolved: Mapping[str, Any], bars: int) -> None:
    needed = min_bars(strategy, resolved)
    if bars < needed:
        raise InsufficientData(bars, needed)


def _check_values(stamps: np.ndarray, prices: Prices) -> None:
    """Prices must be finite and positive, times strictly ascending; name the first bad bar."""
    which, bad = first_bad_value_kernel(
        stamps,
        prices.close,
        _NONE if prices.high is None else prices.high,
        _NONE if prices.low is None else prices.low,
        _NONE if prices.open is None else prices.open,
    )
    if which == 4:
        raise InvalidPriceData("times are not strictly ascending", bad)
    if which >= 0:
        arr = (prices.close, prices.high, prices.low, prices.open)[which]
        raise InvalidPriceData(f"{_PRICE_NAMES[which]} is {_describe(arr[bad])}", bad)


_NONE = _read_only(np.empty(0))  # a price column not supplied: nothing to check
_PRICE_NAMES = ("close", "high", "low", "open")


def _describe(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "infinite"
    return f"not positive ({float(value):g})"


def _trade_log(stamps: np.ndarray, sim: Simulation) -> TradeLog:
    return TradeLog(
        entry_index=sim.entry_index,
        exit_index=sim.exit_index,
        entry_time=stamps[sim.entry_index],
        exit_time=stamps[sim.exit_index],
        entry_price=sim.entry_price,
        exit_price=sim.exit_price,
        return_pct=sim.returns * 100.0,
        reason=sim.reason,
    )
