"""Coins and their price bars, mirroring the original `cryptocurrencies` and `crypto_prices` tables."""

from __future__ import annotations

from django.db import models

INTERVALS = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")
INTERVAL_CHOICES = [(i, i) for i in INTERVALS]


class CryptocurrencyQuerySet(models.QuerySet):
    def active(self) -> "CryptocurrencyQuerySet":
        return self.filter(is_active=True)


class Cryptocurrency(models.Model):
    symbol = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    # Demo data is generated, not market data: the API and the page label it as such.
    is_demo = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CryptocurrencyQuerySet.as_manager()

    class Meta:
        db_table = "cryptocurrencies"
        ordering = ["symbol"]
        verbose_name_plural = "cryptocurrencies"
        indexes = [models.Index(fields=["is_active"], name="idx_cryptocurrencies_active")]

    def __str__(self) -> str:
        return self.symbol


class Price(models.Model):
    id = models.BigAutoField(primary_key=True)
    crypto = models.ForeignKey(Cryptocurrency, on_delete=models.CASCADE, related_name="prices")
    datetime = models.DateTimeField()
    open = models.DecimalField(max_digits=20, decimal_places=8, db_column="open_price")
    high = models.DecimalField(max_digits=20, decimal_places=8, db_column="high_price")
    low = models.DecimalField(max_digits=20, decimal_places=8, db_column="low_price")
    close = models.DecimalField(max_digits=20, decimal_places=8, db_column="close_price")
    volume = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    interval_type = models.CharField(max_length=10, default="1h", choices=INTERVAL_CHOICES)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "crypto_prices"
        constraints = [
            models.UniqueConstraint(
                fields=["crypto", "datetime", "interval_type"], name="crypto_prices_crypto_datetime_interval_uniq"
            )
        ]
        indexes = [
            models.Index(fields=["crypto", "interval_type", "datetime"], name="idx_crypto_prices_composite"),
            models.Index(fields=["datetime"], name="idx_crypto_prices_datetime"),
        ]

    def __str__(self) -> str:
        return f"{self.crypto_id} {self.interval_type} {self.datetime:%Y-%m-%d %H:%M}"
