"""Coins with their bars per interval; a price list that stays fast on hundreds of thousands of rows."""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property
from django.utils.html import format_html_join

from .models import Cryptocurrency, Price
from .quality import quality_report
from .selectors import prices_get, prices_versions_bump
from .services import coins_update_from_exchange

# A filtered list counts at most this many rows; beyond it the page count is capped.
COUNT_CAP = 100_000


class EstimatedCountPaginator(Paginator):
    """Avoids COUNT(*) over the whole table.

    Unfiltered and large: PostgreSQL's planner estimate (pg_class.reltuples), else the span
    of ids (both O(1)). Otherwise (small, or filtered by coin and/or interval, both indexed):
    an exact count, capped at COUNT_CAP rows so a broad filter stays cheap too.
    """

    @cached_property
    def count(self) -> int:
        if not self.object_list.query.where:
            estimate = self._estimate()
            # A small table is counted exactly (cheap), so a stale estimate cannot mislead there.
            if estimate > COUNT_CAP:
                return estimate
        return self.object_list.order_by()[:COUNT_CAP].count()

    def _estimate(self) -> int:
        model = self.object_list.model
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table]
                )
                row = cursor.fetchone()
            if row and row[0] > 0:
                return int(row[0])
        # Two queries: each is one index lookup, while MIN and MAX together scan the table on SQLite.
        pk, table = model._meta.pk.column, model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT MIN({pk}) FROM {table}")
            (low,) = cursor.fetchone()
            cursor.execute(f"SELECT MAX({pk}) FROM {table}")
            (high,) = cursor.fetchone()
        return 0 if low is None else int(high - low + 1)


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ["crypto", "datetime", "interval_type", "open", "high", "low", "close", "volume"]
    list_filter = ["interval_type", "crypto"]
    list_select_related = ["crypto"]
    raw_id_fields = ["crypto"]
    ordering = ["-datetime"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    readonly_fields = ["created_at"]

    # Edited or deleted bars: the coin's series get a new version in the same transaction (the
    # admin's), so no process serves a cached copy of them again (market_data.selectors).
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        coins = {obj.crypto_id}
        if change and form.initial:
            coins.add(form.initial["crypto"])
        prices_versions_bump(crypto_ids=coins)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        prices_versions_bump(crypto_ids=[obj.crypto_id])

    def delete_queryset(self, request, queryset):
        coins = list(queryset.order_by().values_list("crypto_id", flat=True).distinct())
        super().delete_queryset(request, queryset)
        prices_versions_bump(crypto_ids=coins)


@admin.register(Cryptocurrency)
class CryptocurrencyAdmin(admin.ModelAdmin):
    list_display = ["symbol", "name", "is_active", "is_demo", "bars_per_interval", "data_quality", "created_at"]
    list_filter = ["is_active", "is_demo"]
    search_fields = ["symbol", "name"]
    readonly_fields = ["created_at"]
    actions = ["update_from_exchange"]

    @admin.action(description="Update from exchange")
    def update_from_exchange(self, request, queryset):
        ids = list(queryset.values_list("id", flat=True))
        coins_update_from_exchange(coin_ids=ids)
        self.message_user(
            request,
            f"Updating {len(ids)} coin(s) from the exchange in the background: every stored interval, from its "
            "last bar to the last closed candle. Reload this page to see the new bars.",
        )

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # One GROUP BY query for the coins of this page, instead of three queries per coin.
        stats = Price.objects.filter(crypto__in=[c.id for c in changelist.result_list]).interval_stats()
        for coin in changelist.result_list:
            coin.interval_stats = stats.get(coin.id, [])
        return changelist

    @admin.display(description="bars per interval (first → last)")
    def bars_per_interval(self, coin: Cryptocurrency) -> str:
        stats = getattr(coin, "interval_stats", None)
        if stats is None:  # not from the changelist
            stats = Price.objects.filter(crypto=coin).interval_stats().get(coin.id, [])
        if not stats:
            return "no bars"
        return format_html_join(
            "",
            "<div>{}: {} bars, {} → {}</div>",
            ((s.interval, f"{s.bars:,}", f"{s.first:%Y-%m-%d %H:%M}", f"{s.last:%Y-%m-%d %H:%M}") for s in stats),
        )

    @admin.display(description="data quality")
    def data_quality(self, coin: Cryptocurrency) -> str:
        """Per stored interval, the summary of GET /api/cryptocurrencies/{symbol}/quality/ (series from the cache)."""
        stats = getattr(coin, "interval_stats", None)
        if stats is None:
            stats = Price.objects.filter(crypto=coin).interval_stats().get(coin.id, [])
        rows = []
        for s in stats:
            series = prices_get(crypto_id=coin.id, interval=s.interval)
            report = quality_report(series.times, series.close, series.volume, interval=s.interval)
            rows.append(
                (
                    s.interval,
                    f"{len(report['gaps']):,} gaps ({report['missing_bars']:,} missing bars)",
                    f"{report['zero_volume_bars']:,} zero-volume, {len(report['flat_runs']):,} flat runs, "
                    f"{len(report['jumps']):,} jumps",
                )
            )
        if not rows:
            return "no bars"
        return format_html_join("", "<div>{}: {}, {}</div>", rows)
