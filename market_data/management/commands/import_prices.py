"""`manage.py import_prices FILE [FILE ...] --symbol BTC [--name Bitcoin] [--interval 1h] [--skip-invalid]`."""

from django.core.management.base import BaseCommand, CommandError

from market_data.models import INTERVALS
from market_data.services import PriceImportError, prices_import_csv, row_errors_format


class Command(BaseCommand):
    help = "Import OHLCV bars of one coin from CSV files (header row; time column + open, high, low, close[, volume])."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument("--symbol", required=True, help="coin symbol, e.g. BTC (created if new)")
        parser.add_argument("--name", help="coin name, e.g. Bitcoin (default: the symbol)")
        parser.add_argument("--interval", default="1h", choices=INTERVALS, help="bar interval (default 1h)")
        parser.add_argument("--skip-invalid", action="store_true", help="import the good rows and report the bad ones")

    def handle(self, *args, **options):
        try:
            report = prices_import_csv(
                paths=options["files"],
                symbol=options["symbol"],
                name=options["name"],
                interval=options["interval"],
                skip_invalid=options["skip_invalid"],
            )
        except PriceImportError as exc:
            raise CommandError(str(exc)) from None
        if report.skipped:
            self.stderr.write(
                f"Skipped {len(report.skipped)} bad row(s):\n" + row_errors_format(report.skipped, len(report.skipped))
            )
        if report.replaced_demo:
            self.stdout.write(
                f"{report.symbol} was a demo coin: its generated bars were replaced by the imported ones."
            )
        self.stdout.write(
            f"{report.symbol} {report.interval}: {report.rows:,} rows read, {report.written:,} inserted or changed "
            f"in {report.seconds:.2f} s ({report.rate:,.0f} rows/s)"
        )
