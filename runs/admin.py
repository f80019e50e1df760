"""Stored runs in the admin: read-only (runs are written by their jobs only)."""

from django.contrib import admin

from .models import BacktestRun, RunResult


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class RunResultInline(admin.TabularInline):
    model = RunResult
    fields = ("crypto_symbol", "state", "total_return", "total_trades", "win_rate", "max_drawdown", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "strategy",
        "status",
        "interval",
        "start_date",
        "end_date",
        "total",
        "completed",
        "created_at",
    )
    list_filter = ("status", "strategy", "interval")
    list_select_related = ("strategy",)
    date_hierarchy = "created_at"
    exclude = ()
    inlines = [RunResultInline]
