from django.apps import AppConfig


class MarketDataConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "market_data"
    verbose_name = "Market data"  # the admin's heading (else "MARKET_DATA")
