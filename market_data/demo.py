"""The demo universe: 48 coins of generated hourly bars for 2024. Pure numpy, no Django.

Each coin is a seeded geometric random walk (a shared market factor plus its own
noise) from a plausible start price with a plausible volatility, so a fresh install
has something to backtest. The numbers are invented; the coins are named "... (demo)".
The walk of a coin depends only on its symbol and the market seed, so loading a
subset of coins gives the same bars as loading all of them.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

import numpy as np

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2024, 12, 31, 23, tzinfo=dt.UTC)  # inclusive: 8,784 hourly bars (2024 is a leap year)
INTERVAL = "1h"
MARKET_SEED = 2024
HOURS_PER_YEAR = 8760


@dataclass(frozen=True)
class DemoCoin:
    symbol: str
    name: str
    start_price: float  # about the price on 2024-01-01
    annual_vol: float  # annualised volatility of log returns
    beta: float  # exposure to the shared market factor
    usd_volume: float  # typical traded value per hour, USD

    @property
    def demo_name(self) -> str:
        return f"{self.name} (demo)"


DEMO_COINS: tuple[DemoCoin, ...] = (
    DemoCoin("BTC", "Bitcoin", 42_000.0, 0.50, 1.0, 900e6),
    DemoCoin("ETH", "Ethereum", 2_300.0, 0.60, 1.1, 500e6),
    DemoCoin("BNB", "BNB", 310.0, 0.55, 0.9, 60e6),
    DemoCoin("SOL", "Solana", 100.0, 0.85, 1.3, 120e6),
    DemoCoin("XRP", "XRP", 0.62, 0.70, 1.0, 60e6),
    DemoCoin("ADA", "Cardano", 0.60, 0.75, 1.1, 20e6),
    DemoCoin("DOGE", "Dogecoin", 0.090, 0.90, 1.2, 40e6),
    DemoCoin("AVAX", "Avalanche", 38.0, 0.90, 1.3, 25e6),
    DemoCoin("DOT", "Polkadot", 8.0, 0.80, 1.1, 10e6),
    DemoCoin("MATIC", "Polygon", 0.95, 0.85, 1.2, 12e6),
    DemoCoin("LINK", "Chainlink", 15.0, 0.85, 1.2, 20e6),
    DemoCoin("TRX", "TRON", 0.11, 0.45, 0.6, 15e6),
    DemoCoin("LTC", "Litecoin", 72.0, 0.65, 0.9, 15e6),
    DemoCoin("BCH", "Bitcoin Cash", 250.0, 0.80, 1.0, 12e6),
    DemoCoin("ATOM", "Cosmos", 11.0, 0.80, 1.1, 8e6),
    DemoCoin("UNI", "Uniswap", 6.5, 0.90, 1.2, 6e6),
    DemoCoin("XLM", "Stellar", 0.13, 0.70, 1.0, 4e6),
    DemoCoin("ETC", "Ethereum Classic", 27.0, 0.75, 1.0, 7e6),
    DemoCoin("FIL", "Filecoin", 5.8, 0.95, 1.2, 6e6),
    DemoCoin("APT", "Aptos", 9.5, 1.00, 1.3, 8e6),
    DemoCoin("ARB", "Arbitrum", 1.9, 1.00, 1.3, 10e6),
    DemoCoin("OP", "Optimism", 3.6, 1.00, 1.3, 8e6),
    DemoCoin("NEAR", "NEAR Protocol", 3.5, 1.00, 1.3, 9e6),
    DemoCoin("ICP", "Internet Computer", 12.0, 0.95, 1.2, 5e6),
    DemoCoin("HBAR", "Hedera", 0.090, 0.90, 1.1, 4e6),
    DemoCoin("VET", "VeChain", 0.033, 0.85, 1.1, 3e6),
    DemoCoin("ALGO", "Algorand", 0.20, 0.85, 1.1, 3e6),
    DemoCoin("AAVE", "Aave", 110.0, 0.90, 1.2, 6e6),
    DemoCoin("MKR", "Maker", 1_900.0, 0.80, 1.0, 4e6),
    DemoCoin("SAND", "The Sandbox", 0.60, 0.95, 1.2, 4e6),
    DemoCoin("MANA", "Decentraland", 0.55, 0.95, 1.2, 3e6),
    DemoCoin("AXS", "Axie Infinity", 8.5, 0.95, 1.2, 3e6),
    DemoCoin("EGLD", "MultiversX", 60.0, 0.90, 1.1, 2e6),
    DemoCoin("THETA", "Theta Network", 1.1, 0.90, 1.1, 2e6),
    DemoCoin("XTZ", "Tezos", 1.0, 0.80, 1.0, 1.5e6),
    DemoCoin("EOS", "EOS", 0.85, 0.80, 1.0, 3e6),
    DemoCoin("FTM", "Fantom", 0.45, 1.05, 1.3, 8e6),
    DemoCoin("GRT", "The Graph", 0.20, 1.00, 1.2, 4e6),
    DemoCoin("INJ", "Injective", 38.0, 1.10, 1.4, 8e6),
    DemoCoin("RUNE", "THORChain", 6.0, 1.10, 1.3, 6e6),
    DemoCoin("SNX", "Synthetix", 4.0, 1.00, 1.2, 3e6),
    DemoCoin("CRV", "Curve DAO", 0.60, 1.00, 1.2, 4e6),
    DemoCoin("LDO", "Lido DAO", 3.0, 1.00, 1.2, 4e6),
    DemoCoin("KAVA", "Kava", 0.80, 0.95, 1.1, 1.5e6),
    DemoCoin("ZEC", "Zcash", 30.0, 0.85, 0.9, 2e6),
    DemoCoin("DASH", "Dash", 32.0, 0.85, 0.9, 1.5e6),
    DemoCoin("NEO", "Neo", 14.0, 0.90, 1.0, 2e6),
    DemoCoin("CHZ", "Chiliz", 0.10, 0.95, 1.1, 3e6),
)


def demo_times() -> list[dt.datetime]:
    hours = int((END - START).total_seconds() // 3600) + 1
    return [START + dt.timedelta(hours=h) for h in range(hours)]


def _market_returns(n: int) -> np.ndarray:
    """The shared factor: hourly log returns at 45% annual volatility with a mild drift."""
    rng = np.random.default_rng(MARKET_SEED)
    sigma = 0.45 / np.sqrt(HOURS_PER_YEAR)
    return rng.normal(0.35 / HOURS_PER_YEAR, sigma, n)


def demo_ohlcv(coin: DemoCoin, n: int) -> np.ndarray:
    """An (n, 5) array of open, high, low, close, volume, rounded to 8 decimals.

    Invariants: every price is positive, high >= max(open, close), low <= min(open, close).
    """
    rng = np.random.default_rng(zlib.crc32(coin.symbol.encode()))
    hourly = coin.annual_vol / np.sqrt(HOURS_PER_YEAR)
    market = _market_returns(n)
    market_sigma = 0.45 / np.sqrt(HOURS_PER_YEAR)
    # The idiosyncratic part tops the market part up to the coin's own volatility.
    idio_sigma = np.sqrt(max(hourly**2 - (coin.beta * market_sigma) ** 2, (0.3 * hourly) ** 2))
    drift = rng.normal(0.0, 0.6) / HOURS_PER_YEAR - 0.5 * hourly**2
    log_returns = drift + coin.beta * market + rng.normal(0.0, idio_sigma, n)
    close = coin.start_price * np.exp(np.cumsum(log_returns))
    open_ = np.empty(n)
    open_[0] = coin.start_price
    open_[1:] = close[:-1]
    wick = hourly * 0.6
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, wick, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, wick, n)))
    volume = coin.usd_volume / close * rng.lognormal(0.0, 0.5, n)
    bars = np.round(np.column_stack([open_, high, low, close, volume]), 8)
    # Rounding keeps the order of values; the floor keeps the smallest prices positive.
    bars[:, :4] = np.maximum(bars[:, :4], 1e-8)
    return bars


def demo_coins(*, count: int | None = None, symbols: list[str] | None = None) -> list[DemoCoin]:
    """The demo coins to load: the named ones (unknown symbols raise ValueError), else the first `count`."""
    if symbols:
        by_symbol = {c.symbol: c for c in DEMO_COINS}
        wanted = [s.strip().upper() for s in symbols if s.strip()]
        unknown = [s for s in wanted if s not in by_symbol]
        if unknown:
            raise ValueError(f"not demo symbols: {', '.join(unknown)}; known: {', '.join(by_symbol)}")
        return [by_symbol[s] for s in dict.fromkeys(wanted)]
    if count is not None and not 1 <= count <= len(DEMO_COINS):
        raise ValueError(f"coins must be between 1 and {len(DEMO_COINS)}")
    return list(DEMO_COINS[: count or len(DEMO_COINS)])
