"""manage.py strategy_import file.json [--replace]: a rule strategy from a strategy_export file.

The file is checked as the admin checks a strategy; any error refuses it whole (nothing is
written) and names the field.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from strategies.services import strategy_import


class Command(BaseCommand):
    help = "Create a rule strategy from a JSON file written by strategy_export."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--replace", action="store_true", help="overwrite the strategy of the same name")

    def handle(self, *args, path: str, replace: bool, **options):
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"file: cannot read {path}: {exc.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CommandError(f"file: not JSON ({exc})") from None
        try:
            strategy = strategy_import(data=data, replace=replace)
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items()))
            raise CommandError(f"{field}: {' '.join(messages)}") from None
        self.stdout.write(f"imported strategy {strategy.id} ({strategy.name}, key {strategy.key})")
