"""The HTML pages: `/` (set up and watch a run), `/runs/` (past runs), `/runs/<uuid>/` (one stored run),
`/sweeps/` (past sweeps), `/sweeps/new` (set up a sweep), `/sweeps/<uuid>/` (one sweep, live or stored).

The pages are shells: static/app/*.js fills them from the JSON API and the run's event
stream, so a definition changed in the admin shows up without touching a template.
The views only choose a template and say whether the coins are demo data.
"""

from __future__ import annotations

from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from market_data.models import Cryptocurrency
from runs.selectors import run_exists
from strategies.engine import FILL_OPTIONS, STOP_MODES
from sweeps.analysis import AGGREGATES, DEFAULT_OBJECTIVE
from sweeps.models import Sweep


def _demo_data() -> bool:
    """Whether any active coin is generated demo data (the navbar then shows a badge)."""
    return Cryptocurrency.objects.active().filter(is_demo=True).exists()


@require_GET
@ensure_csrf_cookie  # the page POSTs /api/runs/ with the X-CSRFToken header read from this cookie
def backtest_page(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/backtest.html", {"demo_data": _demo_data(), "run_id": "", "nav": "backtest"})


@require_GET
@ensure_csrf_cookie
def run_page(request: HttpRequest, run_id: UUID) -> HttpResponse:
    if not run_exists(run_id=run_id):
        raise Http404("No such run")
    return render(request, "pages/backtest.html", {"demo_data": _demo_data(), "run_id": str(run_id), "nav": "runs"})


@require_GET
def runs_page(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/runs.html", {"demo_data": _demo_data(), "nav": "runs"})


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
    }


@require_GET
def sweeps_page(request: HttpRequest) -> HttpResponse:
    return render(request, "pages/sweeps.html", {"demo_data": _demo_data(), "nav": "sweeps"})


@require_GET
@ensure_csrf_cookie  # the page POSTs /api/sweeps/ (and its preview) with the X-CSRFToken header
def sweep_new_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "pages/sweeps_new.html",
        {"demo_data": _demo_data(), "nav": "sweep-new", "sweep_options": _sweep_options()},
    )


@require_GET
@ensure_csrf_cookie  # cancel, resume and "Open as run" are POSTs
def sweep_page(request: HttpRequest, sweep_id: UUID) -> HttpResponse:
    if not Sweep.objects.filter(id=sweep_id).exists():
        raise Http404("No such sweep")
    return render(
        request,
        "pages/sweeps_detail.html",
        {"demo_data": _demo_data(), "sweep_id": str(sweep_id), "nav": "sweeps", "sweep_options": _sweep_options()},
    )


urlpatterns = [
    path("", backtest_page, name="backtest-page"),
    path("runs/", runs_page, name="runs-page"),
    path("runs/<uuid:run_id>/", run_page, name="run-page"),
    path("sweeps/", sweeps_page, name="sweeps-page"),
    path("sweeps/new", sweep_new_page, name="sweep-new-page"),
    path("sweeps/<uuid:sweep_id>/", sweep_page, name="sweep-page"),
]
