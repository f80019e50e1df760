"""`manage.py runs_recover`: end `interrupted` the runs that no process is executing any more.

A run is alive while its heartbeat is fresh (its jobs, and the process holding its queued
jobs, renew it; BACKTEST_LEASE_SECONDS). Every server process does this at start-up and then
on every heartbeat; the command is for cleaning up by hand. `--all` ends every run in
progress, alive or not (when every server and worker is known to be stopped). Stored results
are kept.
"""

import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from runs.services import batches_recover


class Command(BaseCommand):
    help = "Mark runs that no process executes any more as interrupted (their results stay)."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="every run in progress, whatever its heartbeat")

    def handle(self, *args, **options):
        now = timezone.now()
        stale_before = now if options["all"] else now - dt.timedelta(seconds=settings.BACKTEST_LEASE_SECONDS)
        count = batches_recover(stale_before=stale_before)
        self.stdout.write(f"Marked {count} run(s) interrupted.")
