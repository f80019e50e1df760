"""`manage.py sweep --strategy 2 --grid '{"fast_ma_period": {"from": 5, "to": 54, "step": 1}}' [options]`:
a sweep from the terminal, through the same validation, jobs and storage as POST /api/sweeps/,
with a progress bar; prints the top cells when it is done."""

from __future__ import annotations

import json
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from rest_framework.exceptions import ValidationError

from runs.backends import wait_idle
from runs.services import TooManyRuns
from sweeps.api import sweep_request_create
from sweeps.models import Sweep, SweepCell


class Command(BaseCommand):
    help = "Run a parameter sweep over every coin and print its top cells."

    def add_arguments(self, parser):
        parser.add_argument("--strategy", type=int, required=True, help="strategy id")
        parser.add_argument(
            "--grid", required=True, help='JSON: {"param": {"from": a, "to": b, "step": s} or [values]}'
        )
        parser.add_argument("--parameters", default="{}", help="JSON: the fixed parameters")
        parser.add_argument("--random", type=int, help="draw N combinations instead of every one")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--objective", default=None)
        parser.add_argument("--start", dest="start_date")
        parser.add_argument("--end", dest="end_date")
        parser.add_argument("--test-start")
        parser.add_argument("--walk-forward", type=int, help="folds")
        parser.add_argument("--walk-forward-mode", default="rolling", choices=["rolling", "anchored"])
        parser.add_argument("--interval")
        parser.add_argument("--fee", type=float, dest="fee_pct")
        parser.add_argument("--fill")
        parser.add_argument("--stop-mode")
        parser.add_argument("--slippage", type=float, dest="slippage_pct")
        parser.add_argument("--symbols", help="comma-separated coins (default: every active coin)")
        parser.add_argument("--top", type=int, default=10, help="how many cells to print")

    def handle(self, *args, **options):
        body = {
            "strategy_id": options["strategy"],
            "grid": _json(options["grid"], "--grid"),
            "parameters": _json(options["parameters"], "--parameters"),
            "search": {"random": options["random"], "seed": options["seed"]} if options["random"] else "grid",
        }
        for key in ("objective", "start_date", "end_date", "interval", "fee_pct", "fill", "stop_mode", "slippage_pct"):
            if options[key] is not None:
                body[key] = options[key]
        if options["test_start"]:
            body["test_start"] = options["test_start"]
        if options["walk_forward"]:
            body["walk_forward"] = {"folds": options["walk_forward"], "mode": options["walk_forward_mode"]}
        if options["symbols"]:
            body["symbols"] = options["symbols"]
        try:
            sweep = sweep_request_create(body)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{f}: {' '.join(map(str, m))}" for f, m in exc.detail.items())) from None
        except TooManyRuns as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Sweep {sweep.id}: {sweep.total:,} cells ({sweep.skipped:,} skipped) x {len(sweep.coins)} coins"
        )
        started = time.perf_counter()
        while True:
            sweep.refresh_from_db()
            self._bar(sweep.completed + sweep.cancelled_cells, sweep.total, time.perf_counter() - started)
            if sweep.finished_at is not None:
                break
            time.sleep(0.2)
        wait_idle(str(sweep.id), timeout=30)
        self.stdout.write("")
        self._top(sweep, options["top"])

    def _bar(self, done: int, total: int, seconds: float) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        sys.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} cells, {seconds:.1f} s")
        sys.stdout.flush()

    def _top(self, sweep: Sweep, count: int) -> None:
        swept = [a["name"] for a in sweep.axes]
        cells = (
            SweepCell.objects.filter(sweep=sweep, state=SweepCell.State.DONE)
            .exclude(objective=None)
            .order_by("-objective", "n")[:count]
        )
        self.stdout.write(f"{sweep.status}, {sweep.elapsed_time or 0:.1f} s; top {count} by {sweep.objective}:")
        self.stdout.write(
            f"{'cell':>6}  {'parameters':<40} {'objective':>10} {'robust':>8} {'avg ret %':>10} {'test':>8}"
        )
        for cell in cells:
            params = ", ".join(f"{k}={cell.parameters[k]}" for k in swept)
            test = (cell.test_aggregates or {}).get(sweep.objective)
            test_text = "" if test is None else f"{test:8.3f}"
            robust = "" if cell.robustness is None else f"{cell.robustness:8.3f}"
            self.stdout.write(
                f"{cell.n:>6}  {params:<40} {cell.objective:>10.3f} {robust:>8} "
                f"{cell.aggregates['avg_total_return']:>10.2f} {test_text:>8}"
            )
        dsr = (sweep.summary or {}).get("deflated_sharpe")
        if dsr:
            self.stdout.write(
                f"deflated Sharpe of the best cell: {dsr['probability']:.3f} "
                f"(Sharpe {dsr['sharpe_annualised']:.2f} annualised, {dsr['trials']} trials)"
            )


def _json(text: str, flag: str):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{flag} is not JSON: {exc}") from None
