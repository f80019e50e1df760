"""`manage.py fetch_prices --exchange binance --symbols BTC/USDT,ETH/USDT --interval 1h --since 2024-01-01
[--until 2024-06-30] [--top 50 --quote USDT] [--prepend]`."""

from django.core.management.base import BaseCommand, CommandError

from market_data.models import INTERVALS
from market_data.services import PriceImportError, prices_fetch_exchange

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Fetch candles from an exchange (ccxt) and store them; a second run fetches only what is missing "
        "after the last stored bar (--prepend: before the first). The still-open candle is never stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--exchange", default="binance", help="ccxt exchange id (default binance)")
        parser.add_argument("--symbols", default="", help="pairs, comma-separated: BTC/USDT,ETH/USDT")
        parser.add_argument("--top", type=int, help="the N pairs quoted in --quote with the largest 24 h volume")
        parser.add_argument("--quote", help="quote currency (USDT): a pair quoted in another keeps it (ETH-BTC)")
        parser.add_argument("--interval", default="1h", choices=INTERVALS, help="candle interval (default 1h)")
        parser.add_argument("--since", required=True, help="first day or time to fetch, e.g. 2024-01-01 (UTC)")
        parser.add_argument("--until", help="fetch up to (not including) this day or time (default: now)")
        parser.add_argument("--prepend", action="store_true", help="fetch what is missing before the first bar")
        parser.add_argument("--api-url", help="send the API requests to this host instead (a mirror or test server)")

    def handle(self, *args, **options):
        from market_data.exchange import ExchangeFetchError

        pairs = [p.strip() for p in options["symbols"].split(",") if p.strip()]
        try:
            reports = prices_fetch_exchange(
                exchange_name=options["exchange"],
                interval=options["interval"],
                since=options["since"],
                until=options["until"],
                pairs=pairs,
                top=options["top"],
                quote=options["quote"],
                prepend=options["prepend"],
                api_base=options["api_url"],
                progress=self.progress,
            )
        except (ExchangeFetchError, PriceImportError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        for r in reports:
            status = f" ({r.skipped})" if r.skipped else ""
            self.stdout.write(
                f"{r.pair} -> {r.symbol} {options['interval']}: {r.bars:,} candles fetched, {r.written:,} bars added "
                f"or changed in {r.requests:,} requests ({r.retries} retried){status}; stored series: "
                f"{r.gaps:,} gaps, {r.missing_bars:,} missing bars"
            )
        self.stdout.write(
            f"{len(reports)} pair(s): {sum(r.written for r in reports):,} bars added or changed, "
            f"{sum(r.gaps for r in reports):,} gaps in the stored series"
        )

    def progress(self, report, done: int, total: int) -> None:
        share = min(max(done / total, 0.0), 1.0) if total > 0 else 1.0
        filled = round(share * BAR_WIDTH)
        self.stdout.write(
            f"{report.pair:<14} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:4.0%} {report.bars:,} candles"
        )
