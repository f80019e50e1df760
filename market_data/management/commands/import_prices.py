"""`manage.py import_prices FILE|FOLDER|GLOB ... [--symbol BTC] [--quote USDT] [--interval 1h] [--format auto]`."""

from django.core.management.base import BaseCommand, CommandError

from market_data.formats import FORMATS
from market_data.models import INTERVALS
from market_data.services import PriceImportError, prices_import_files, row_errors_format


class Command(BaseCommand):
    help = (
        "Import OHLCV bars from files: generic CSV, Binance klines (.csv or .zip), CryptoDataDownload CSV, "
        "freqtrade json/feather/parquet. The format, coin and interval are recognised unless given."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE", help="files, folders or glob patterns")
        parser.add_argument("--symbol", help="coin symbol or pair, e.g. BTC or ETH/BTC (default: from the file name)")
        parser.add_argument("--quote", help="quote currency to strip from pairs, e.g. USDT: BTCUSDT is BTC")
        parser.add_argument("--name", help="coin name, e.g. Bitcoin (default: the symbol)")
        parser.add_argument(
            "--interval", choices=INTERVALS, help="bar interval (default: the file name's, else the bars' spacing)"
        )
        parser.add_argument("--format", dest="fmt", default="auto", choices=FORMATS, help="file format (default auto)")
        parser.add_argument("--skip-invalid", action="store_true", help="import the good rows and report the bad ones")

    def handle(self, *args, **options):
        try:
            reports = prices_import_files(
                paths=options["files"],
                symbol=options["symbol"],
                name=options["name"],
                interval=options["interval"],
                quote=options["quote"],
                fmt=options["fmt"],
                skip_invalid=options["skip_invalid"],
            )
        except PriceImportError as exc:
            raise CommandError(str(exc)) from None
        for report in reports:
            if report.skipped:
                self.stderr.write(
                    f"Skipped {len(report.skipped)} bad row(s):\n"
                    + row_errors_format(report.skipped, len(report.skipped))
                )
            if report.replaced_demo:
                self.stdout.write(
                    f"{report.symbol} was a demo coin: its generated bars were replaced by the imported ones."
                )
            self.stdout.write(
                f"{report.symbol} {report.interval} ({', '.join(report.formats)}, {len(report.files)} file(s)): "
                f"{report.rows:,} rows read, {report.written:,} inserted or changed"
            )
        total = sum(r.rows for r in reports)
        seconds = reports[0].seconds if reports else 0.0
        rate = total / seconds if seconds > 0 else 0.0
        self.stdout.write(f"{total:,} rows in {seconds:.2f} s ({rate:,.0f} rows/s)")
