"""The HTML pages: `/` (set up and watch a run), `/runs/` (past runs), `/runs/<uuid>/` (one stored run),
`/compare/?runs=...` (runs side by side),
`/sweeps/` (past sweeps), `/sweeps/new` (set up a sweep), `/sweeps/<uuid>/` (one sweep, live or stored).

The pages are shells: static/app/*.js fills them from the JSON API and the run's event
stream, so a definition changed in the admin shows up without touching a template.
The views only choose a template, say whether the coins are demo data, and hand the page the
facts it displays (`page_facts`: fee range, intervals, metric labels, statuses and their styles)
as JSON in the template (json_script), so that no script keeps a copy of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from market_data.models import INTERVALS, Cryptocurrency
from runs.models import (
    CUSTOM_PRESET,
    FEW_BARS,
    FEW_TRADES,
    FILL_LABELS,
    FILL_PRESETS,
    FILL_TEXT,
    METRIC_DISPLAY,
    METRIC_FIELDS,
    BacktestRun,
    RunResult,
)
from runs.selectors import run_exists
from strategies.engine import (
    FEE_PCT,
    FILL,
    FILL_OPTIONS,
    METRICS,
    PORTFOLIO_METRICS,
    PORTFOLIO_SLOTS,
    SLIPPAGE_PCT,
    STOP_MODE,
    STOP_MODES,
)
from sweeps.analysis import AGGREGATES, DEFAULT_OBJECTIVE
from sweeps.models import Sweep

FAVICON = Path(settings.BASE_DIR) / "static" / "app" / "favicon.ico"


def _metric_display(name: str) -> dict[str, object]:
    # A metric without display metadata yet still reaches the page, under its field name.
    return METRIC_DISPLAY.get(name) or {"label": name.replace("_", " ").capitalize(), "title": "", "unit": ""}


def _fill_choices(spec) -> list[dict[str, str]]:
    """An execution option's values (the engine's), each with its label and its words."""
    return [{"value": v, "label": FILL_LABELS[spec.name][v], "text": FILL_TEXT[spec.name][v]} for v in spec.options]


def page_facts() -> dict[str, Any]:
    """What the scripts display, from where it is defined (the engine, the models)."""
    return {
        "fee": {"min": FEE_PCT.min, "max": FEE_PCT.max, "default": FEE_PCT.default, "label": FEE_PCT.display_name},
        # The run's account (runs.portfolio): the slots' range and the metric only an account has.
        "portfolio": {
            "slots": {"min": PORTFOLIO_SLOTS.min, "max": PORTFOLIO_SLOTS.max, "label": PORTFOLIO_SLOTS.display_name},
            "metrics": [
                {"key": m.name, "label": m.label, "title": m.description, "unit": "int"}
                for m in PORTFOLIO_METRICS
                if m.name not in METRIC_FIELDS
            ],
        },
        "intervals": list(INTERVALS),
        "metrics": [{"key": name, **_metric_display(name)} for name in METRIC_FIELDS],
        "few_trades": FEW_TRADES,
        "few_bars": FEW_BARS,
        "statuses": [
            {"value": value, "label": label, "style": BacktestRun.STATUS_STYLES[value]}
            for value, label in BacktestRun.Status.choices
        ],
        "slippage": {
            "min": SLIPPAGE_PCT.min,
            "max": SLIPPAGE_PCT.max,
            "default": SLIPPAGE_PCT.default,
            "label": SLIPPAGE_PCT.display_name,
        },
        # The execution options (the engine's values), their labels and words, and the run form's presets.
        "fill_options": {
            spec.name: {
                "label": spec.display_name,
                "default": spec.default,
                "options": _fill_choices(spec),
            }
            for spec in (FILL, STOP_MODE)
        },
        "fill_presets": [*FILL_PRESETS, CUSTOM_PRESET],
        "in_progress": [str(s) for s in BacktestRun.IN_PROGRESS],
        "resumable": [str(BacktestRun.Status.INTERRUPTED)],  # a sweep the server left continues
    }


def _demo_data() -> bool:
    """Whether any active coin is generated demo data (the navbar then shows a badge)."""
    return Cryptocurrency.objects.active().filter(is_demo=True).exists()


@require_safe
@ensure_csrf_cookie  # the page POSTs /api/runs/ with the X-CSRFToken header read from <meta name="csrf-token">
def backtest_page(request: HttpRequest) -> HttpResponse:
    context = {"demo_data": _demo_data(), "run_id": "", "nav": "backtest", "facts": page_facts(), "csrf_meta": True}
    return render(request, "pages/backtest.html", context)


@require_safe
@ensure_csrf_cookie
def run_page(request: HttpRequest, run_id: UUID) -> HttpResponse:
    if not run_exists(run_id=run_id):
        raise Http404("No such run")
    # A stored run's page is about its own coins: the badge says whether those were demo data.
    demo = RunResult.objects.filter(run_id=run_id, is_demo=True).exists()
    context = {"demo_data": demo, "run_id": str(run_id), "nav": "runs", "facts": page_facts(), "csrf_meta": True}
    return render(request, "pages/backtest.html", context)


@require_safe
def runs_page(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/runs.html", {"demo_data": _demo_data(), "nav": "runs", "facts": page_facts()})


# Where the numbers differ from other tools on the same trades, and why (spec/ENGINE.md).
DIFFERENCES: tuple[tuple[str, str], ...] = (
    (
        "The open position at the end is closed and counted",
        "A position still open after the last bar is sold at the last close (reason end_of_data) and counts as a "
        "trade in total_trades, the win rate and every trade metric. vectorbt's statistics count closed trades "
        "only and report the open one apart; backtesting.py closes it only with finalize_trades=True; freqtrade "
        "force-exits it at the end of the timerange.",
    ),
    (
        "Moving averages are exactly rounded: an exact tie is not a cross",
        "SMA(x, n) is the float64 nearest to the exact mean of its n inputs. pandas' rolling mean, which vectorbt and "
        "backtesting.py use, keeps a running sum that drifts in the last bit, so two windows with equal means can "
        "differ by 1e-20 and count as a cross. On real ADA/BTC 5-minute candles vectorbt and backtesting.py count "
        "115 trades of a crossover where this engine counts 113.",
    ),
    (
        "Sharpe and Sortino are per bar, annualised by the bars of a 24/7 year",
        "The ratios are taken over the equity curve's bar-to-bar returns b, times sqrt(P) with P = 525,600 / "
        "interval minutes (8,760 bars a year at 1h, 365 at 1d): crypto trades every day. No risk-free rate. "
        "backtesting.py resamples the equity to daily returns first, freqtrade's report uses daily profits, and "
        "vectorbt annualises by the freq it is given: the same trades can so give different ratios.",
    ),
    (
        "Returns compound; the fee is charged on both fills",
        "total_return is (final equity - 1) * 100 with all the equity in each trade, not a sum of trade "
        "percentages. fee_pct is charged on the entry and on the exit, on the fill price (slippage included): "
        "r = exit*(1-fee) / (entry*(1+fee)) - 1.",
    ),
    (
        "Fills: at the close by default, the next open as an option",
        "vectorbt fills at the signal bar's close, as the default here; backtesting.py and freqtrade fill at the next "
        "bar's open (the Next open preset). With next-open fills and stops off the trades equal vectorbt's "
        "from_signals on signals shifted one bar with price=open. With fills at the close a bar either exits or "
        "enters, never both, and an entry bar is not checked for exit.",
    ),
    (
        "An intrabar stop and a buy can share a bar",
        "With the intrabar stop a bar whose low reaches the stop sells at the stop, or at the open when the bar "
        "opened below it. That agrees with vectorbt's sl_stop given open, high and low, except that vectorbt takes "
        "one order per bar and never buys again at the close of the bar that stopped out; here the stop and a buy "
        "decided at the close are two moments, so both happen.",
    ),
    (
        "A profit factor with no losing trade is undefined",
        "profit_factor is null (shown “–”) when a trade gained and none lost, and 0 when none gained, rather than "
        "an infinite ratio.",
    ),
)


@require_safe
def methods_page(request: HttpRequest) -> HttpResponse:
    """`/methods/`: each metric and fill option in words and formulas, from the engine's own
    definitions (strategies.engine METRICS, the execution options), and where other tools differ."""
    context = {
        "demo_data": _demo_data(),
        "nav": "methods",
        "metrics": METRICS,
        "fill_options": [
            {
                "name": spec.name,
                "label": spec.display_name,
                "default": spec.default,
                "options": _fill_choices(spec),
            }
            for spec in (FILL, STOP_MODE)
        ],
        "slippage": SLIPPAGE_PCT,
        "fee": FEE_PCT,
        "presets": FILL_PRESETS,
        "differences": DIFFERENCES,
        "few_trades": FEW_TRADES,
        "few_bars": FEW_BARS,
    }
    return render(request, "pages/methods.html", context)


@require_safe
def compare_page(request: HttpRequest) -> HttpResponse:
    """`/compare/?runs=<id>,<id>,...`: runs side by side (static/app/compare.js reads GET /api/runs/compare/)."""
    return render(request, "pages/compare.html", {"demo_data": _demo_data(), "nav": "runs", "facts": page_facts()})


@require_safe
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> FileResponse:
    """/favicon.ico, which browsers ask for on pages that name no icon (the admin, the API docs)."""
    return FileResponse(FAVICON.open("rb"), content_type="image/x-icon")


@require_safe
def data_page(request: HttpRequest) -> HttpResponse:
    """`/data/`: coverage timeline and data quality per coin (static/app/data.js fills it)."""
    return render(request, "pages/data.html", {"demo_data": _demo_data(), "nav": "data"})


def _sweep_options() -> dict:
    """What the sweep pages offer, from the code that checks it (read by the page from a json_script block)."""
    return {
        "aggregates": list(AGGREGATES),
        "objective": DEFAULT_OBJECTIVE,
        "fill": list(FILL_OPTIONS),
        "stop_mode": list(STOP_MODES),
        "intervals": list(INTERVALS),
    }


@require_safe
def sweeps_page(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/sweeps.html", {"demo_data": _demo_data(), "nav": "sweeps", "facts": page_facts()})


@require_safe
@ensure_csrf_cookie  # the page POSTs /api/sweeps/ (and its preview) with the X-CSRFToken header
def sweep_new_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "pages/sweeps_new.html",
        {
            "demo_data": _demo_data(),
            "nav": "sweep-new",
            "sweep_options": _sweep_options(),
            "facts": page_facts(),
            "csrf_meta": True,
        },
    )


@require_safe
@ensure_csrf_cookie  # cancel, resume and "Open as run" are POSTs
def sweep_page(request: HttpRequest, sweep_id: UUID) -> HttpResponse:
    if not Sweep.objects.filter(id=sweep_id).exists():
        raise Http404("No such sweep")
    return render(
        request,
        "pages/sweeps_detail.html",
        {
            "demo_data": _demo_data(),
            "sweep_id": str(sweep_id),
            "nav": "sweeps",
            "sweep_options": _sweep_options(),
            "facts": page_facts(),
            "csrf_meta": True,
        },
    )


urlpatterns = [
    path("", backtest_page, name="backtest-page"),
    path("runs/", runs_page, name="runs-page"),
    path("runs/<uuid:run_id>/", run_page, name="run-page"),
    path("compare/", compare_page, name="compare-page"),
    path("sweeps/", sweeps_page, name="sweeps-page"),
    path("sweeps/new", sweep_new_page, name="sweep-new-page"),
    path("sweeps/<uuid:sweep_id>/", sweep_page, name="sweep-page"),
    path("methods/", methods_page, name="methods-page"),
    path("favicon.ico", favicon, name="favicon"),
]
