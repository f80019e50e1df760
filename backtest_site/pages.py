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
from django.views.decorators.http import require_GET

from market_data.models import INTERVALS, Cryptocurrency
from runs.models import FEW_BARS, FEW_TRADES, METRIC_DISPLAY, METRIC_FIELDS, BacktestRun, RunResult
from runs.selectors import run_exists
from strategies.engine import FEE_PCT, FILL_OPTIONS, PORTFOLIO_METRICS, PORTFOLIO_SLOTS, STOP_MODES
from sweeps.analysis import AGGREGATES, DEFAULT_OBJECTIVE
from sweeps.models import Sweep

FAVICON = Path(settings.BASE_DIR) / "static" / "app" / "favicon.ico"


def _metric_display(name: str) -> dict[str, object]:
    # A metric without display metadata yet still reaches the page, under its field name.
    return METRIC_DISPLAY.get(name) or {"label": name.replace("_", " ").capitalize(), "title": "", "unit": ""}


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
        "in_progress": [str(s) for s in BacktestRun.IN_PROGRESS],
        "resumable": [str(BacktestRun.Status.INTERRUPTED)],  # a sweep the server left continues
    }


def _demo_data() -> bool:
    """Whether any active coin is generated demo data (the navbar then shows a badge)."""
    return Cryptocurrency.objects.active().filter(is_demo=True).exists()


@require_GET
@ensure_csrf_cookie  # the page POSTs /api/runs/ with the X-CSRFToken header read from this cookie
def backtest_page(request: HttpRequest) -> HttpResponse:
    context = {"demo_data": _demo_data(), "run_id": "", "nav": "backtest", "facts": page_facts()}
    return render(request, "pages/backtest.html", context)


@require_GET
@ensure_csrf_cookie
def run_page(request: HttpRequest, run_id: UUID) -> HttpResponse:
    if not run_exists(run_id=run_id):
        raise Http404("No such run")
    # A stored run's page is about its own coins: the badge says whether those were demo data.
    demo = RunResult.objects.filter(run_id=run_id, is_demo=True).exists()
    context = {"demo_data": demo, "run_id": str(run_id), "nav": "runs", "facts": page_facts()}
    return render(request, "pages/backtest.html", context)


@require_GET
def runs_page(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/runs.html", {"demo_data": _demo_data(), "nav": "runs", "facts": page_facts()})


@require_GET
def compare_page(request: HttpRequest) -> HttpResponse:
    """`/compare/?runs=<id>,<id>,...`: runs side by side (static/app/compare.js reads GET /api/runs/compare/)."""
    return render(request, "pages/compare.html", {"demo_data": _demo_data(), "nav": "runs", "facts": page_facts()})


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> FileResponse:
    """/favicon.ico, which browsers ask for on pages that name no icon (the admin, the API docs)."""
    return FileResponse(FAVICON.open("rb"), content_type="image/x-icon")


@require_GET
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


@require_GET
def sweeps_page(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/sweeps.html", {"demo_data": _demo_data(), "nav": "sweeps", "facts": page_facts()})


@require_GET
@ensure_csrf_cookie  # the page POSTs /api/sweeps/ (and its preview) with the X-CSRFToken header
def sweep_new_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "pages/sweeps_new.html",
        {"demo_data": _demo_data(), "nav": "sweep-new", "sweep_options": _sweep_options(), "facts": page_facts()},
    )


@require_GET
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
    path("favicon.ico", favicon, name="favicon"),
]
