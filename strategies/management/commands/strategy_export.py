"""manage.py strategy_export ID > file.json: one rule strategy, its rules and parameter definitions, as JSON."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from strategies.models import Strategy
from strategies.services import strategy_export


class Command(BaseCommand):
    help = "Write one rule strategy (rules and parameter definitions) as JSON to stdout."

    def add_arguments(self, parser):
        parser.add_argument("strategy_id", type=int)

    def handle(self, *args, strategy_id: int, **options):
        strategy = Strategy.objects.filter(id=strategy_id).first()
        if strategy is None:
            raise CommandError(f"there is no strategy {strategy_id}")
        try:
            data = strategy_export(strategy=strategy)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
