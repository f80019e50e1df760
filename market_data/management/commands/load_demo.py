"""`manage.py load_demo [--if-empty] [--coins N | --symbols BTC,ETH]`: the generated demo universe."""

from django.core.management.base import BaseCommand, CommandError

from market_data.services import demo_universe_load


class Command(BaseCommand):
    help = "Load 48 demo coins with generated hourly bars for 2024 (named '... (demo)'); never touches imported coins."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="only when the database has no coins at all")
        parser.add_argument("--coins", type=int, help="load only the first N demo coins")
        parser.add_argument("--symbols", help="load only these demo coins, comma-separated (e.g. BTC,ETH)")

    def handle(self, *args, **options):
        symbols = options["symbols"].split(",") if options["symbols"] else None
        try:
            report = demo_universe_load(count=options["coins"], symbols=symbols, if_empty=options["if_empty"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if report.skipped_not_empty:
            self.stdout.write("The database already has coins: demo data not loaded.")
            return
        if report.kept_real:
            self.stdout.write(f"Kept imported coins (not overwritten by the demo): {', '.join(report.kept_real)}")
        self.stdout.write(
            f"Loaded {len(report.loaded)} demo coins, {report.rows:,} bars in {report.seconds:.2f} s "
            f"({report.rate:,.0f} rows/s)"
        )
