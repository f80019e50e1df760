"""`manage.py runs_recover`: mark runs left pending or running by a stopped server `interrupted`.

The ASGI application does this by itself when it starts (for runs created before the
process started). Run this command before starting several server processes at once
from a deploy script, or to clean up by hand; stored results are kept.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

from runs.services import runs_recover


class Command(BaseCommand):
    help = "Mark runs left pending or running by a stopped server as interrupted (their results stay)."

    def handle(self, *args, **options):
        count = runs_recover(started_before=timezone.now())
        self.stdout.write(f"Marked {count} run(s) interrupted.")
