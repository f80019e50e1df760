"""Coins and their price bars, mirroring the original `cryptocurrencies` and `crypto_prices` tables."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from django.db import models
from django.db.models import Count, FloatField, Max, Min
from django.db.models.functions import Cast

INTERVALS = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")
INTERVAL_CHOICES = [(i, i) for i in INTERVALS]
INTERVAL_SECONDS = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14400, "1d": 86400, "1w": 604800}
# What an imported symbol may be: it is part of the API's URLs (/api/cryptocurrencies/BTC/prices/),
# so no "/", "." or spaces; at most 20 characters, the column's size.
SYMBOL_RE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,19}")


@dataclass(frozen=True)
class IntervalStats:
    """What a coin holds in one interval: how many bars, and the first and last bar's time.

    A derived interval (made from finer stored bars, see aggregate.py) names its source; its bar
    count is the buckets between its first and last bar.
    """

    interval: str
    bars: int
    first: dt.datetime
    last: dt.datetime
    derived_from: str | None = None


class CryptocurrencyQuerySet(models.QuerySet):
    def active(self) -> CryptocurrencyQuerySet:
        return self.filter(is_active=True)

    def with_interval_stats(self) -> list[Cryptocurrency]:
        """The coins, each with `interval_stats` (IntervalStats, stored then derived intervals): two queries."""
        from .aggregate import interval_stats_derived  # aggregate.py builds on this module's constants

        coins = list(self)
        stats = Price.objects.filter(crypto_id__in=[c.id for c in coins]).interval_stats()
        for coin in coins:
            stored = stats.get(coin.id, [])
            coin.interval_stats = stored + interval_stats_derived(stored)
        return coins


def prices_version_new() -> str:
    """A new version of a coin's price series: random, so a number seen before (a database restored
    or recreated while a process still holds series in memory) can never come back."""
    return uuid.uuid4().hex


class Cryptocurrency(models.Model):
    symbol = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    # Demo data is generated, not market data: the API and the page label it as such.
    is_demo = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # The version of the coin's price series (every interval): changed in the transaction of every
    # write to its bars (imports, admin edits and deletes), and read with every series served from
    # a cache (market_data.selectors), so every process sees an import at once.
    prices_version = models.CharField(max_length=32, default=prices_version_new, editable=False)

    objects = CryptocurrencyQuerySet.as_manager()

    class Meta:
        db_table = "cryptocurrencies"
        ordering = ["symbol"]
        verbose_name_plural = "cryptocurrencies"
        indexes = [models.Index(fields=["is_active"], name="idx_cryptocurrencies_active")]

    def __str__(self) -> str:
        return self.symbol


class PriceQuerySet(models.QuerySet):
    def interval_stats(self) -> dict[int, list[IntervalStats]]:
        """Bar count and first/last time per coin and interval, in one GROUP BY query."""
        rows = (
            self.order_by()
            .values("crypto_id", "interval_type")
            .annotate(bars=Count("id"), first=Min("datetime"), last=Max("datetime"))
            .order_by("crypto_id", "interval_type")
        )
        stats: dict[int, list[IntervalStats]] = {}
        for row in rows:
            stats.setdefault(row["crypto_id"], []).append(
                IntervalStats(row["interval_type"], row["bars"], row["first"], row["last"])
            )
        return stats

    def bars(self, *, crypto_id: int, interval: str, start: dt.datetime | None = None, end: dt.datetime | None = None):
        """(datetime, open, high, low, close, volume) tuples, prices as floats, ascending; start and end inclusive."""
        qs = self.filter(crypto_id=crypto_id, interval_type=interval)
        if start is not None:
            qs = qs.filter(datetime__gte=start)
        if end is not None:
            qs = qs.filter(datetime__lte=end)
        floats = {f"{name}_f": Cast(name, FloatField()) for name in ("open", "high", "low", "close", "volume")}
        return qs.order_by("datetime").annotate(**floats).values_list("datetime", *floats)


class Price(models.Model):
    id = models.BigAutoField(primary_key=True)
    # No index of its own: the unique constraint below starts with it, and serves the reads of a
    # coin's bars (crypto_id = ... AND interval_type = ... ORDER BY datetime) as well.
    crypto = models.ForeignKey(Cryptocurrency, on_delete=models.CASCADE, related_name="prices", db_index=False)
    datetime = models.DateTimeField()
    open = models.DecimalField(max_digits=20, decimal_places=8, db_column="open_price")
    high = models.DecimalField(max_digits=20, decimal_places=8, db_column="high_price")
    low = models.DecimalField(max_digits=20, decimal_places=8, db_column="low_price")
    close = models.DecimalField(max_digits=20, decimal_places=8, db_column="close_price")
    volume = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    interval_type = models.CharField(max_length=10, default="1h", choices=INTERVAL_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PriceQuerySet.as_manager()

    class Meta:
        db_table = "crypto_prices"
        constraints = [
            models.UniqueConstraint(
                fields=["crypto", "datetime", "interval_type"], name="crypto_prices_crypto_datetime_interval_uniq"
            )
        ]
        indexes = [models.Index(fields=["datetime"], name="idx_crypto_prices_datetime")]

    def __str__(self) -> str:
        return f"{self.crypto_id} {self.interval_type} {self.datetime:%Y-%m-%d %H:%M}"


class PricePack(models.Model):
    """A coin's series of one interval packed in one value (`selectors.PriceSeries.to_bytes`: int64
    times, then the five float64 columns), stamped with the coin's `prices_version` it was read under.

    A copy of what the bars' rows hold, kept so that a read that misses the caches takes one row per
    coin instead of one per bar (market_data.selectors). It is served only while its stamp is the
    coin's version, so every write that bumps the version (imports, demo loads, admin edits and
    deletes) leaves it unused until it is rebuilt from the rows.
    """

    crypto = models.ForeignKey(Cryptocurrency, on_delete=models.CASCADE, related_name="+", db_index=False)
    interval_type = models.CharField(max_length=10, choices=INTERVAL_CHOICES)
    version = models.CharField(max_length=32)
    bars = models.BinaryField()

    class Meta:
        db_table = "crypto_price_packs"
        constraints = [
            models.UniqueConstraint(fields=["crypto", "interval_type"], name="crypto_price_packs_crypto_interval_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.crypto_id} {self.interval_type} {self.version}"
