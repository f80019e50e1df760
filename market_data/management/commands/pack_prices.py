"""`manage.py pack_prices`: pack every coin's stored series that has no pack of its current version."""

from django.core.management.base import BaseCommand

from market_data.services import prices_packs_build


class Command(BaseCommand):
    help = (
        "Pack every coin's stored series not packed under its current version (market_data.models.PricePack): "
        "what the first read missing the caches would do, done ahead (e.g. after migrating)."
    )

    def handle(self, *args, **options):
        series, seconds = prices_packs_build()
        self.stdout.write(f"Checked {series} series (coin x interval) and packed those not current in {seconds:.2f} s")
