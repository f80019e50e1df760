"""The sweep pages with Django's test client (the browser tests drive them in Chromium)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from market_data.models import INTERVALS
from strategies.engine import FILL_OPTIONS, STOP_MODES
from strategies.models import Strategy
from sweeps.analysis import AGGREGATES, DEFAULT_OBJECTIVE
from sweeps.models import Sweep
from tests.support import page_has_csrf

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("sweep_form.js", "sweep_page.js", "sweep_list.js")


@pytest.fixture
def plain_static(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def sweep(db) -> Sweep:
    strategy = Strategy.objects.get_or_create(key="ma_crossover", defaults={"name": "Moving Average Crossover"})[0]
    return Sweep.objects.create(strategy=strategy, grid={"fast_ma_period": [5]}, axes=[], objective="avg_sharpe_ratio")


def options_block(html: str) -> dict:
    match = re.search(r'<script id="sweep-options" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the options json_script block is missing"
    return json.loads(match.group(1))


@pytest.mark.parametrize(
    ("path", "module", "csrf"),
    [("/sweeps/new", "sweep_form.js", True), ("/sweeps/", "sweep_list.js", False)],
)
def test_the_pages_load_their_module_and_local_assets_only(client, plain_static, db, path, module, csrf):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<script type="module" src="/static/app/{module}">' in html
    assert page_has_csrf(response) is csrf  # the form POSTs the preview and the sweep
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "nothing from another host"
    assert 'href="/sweeps/new"' in html and 'href="/sweeps/"' in html  # the navigation's links
    # No inline script: data goes in json_script blocks, code in static modules (for a CSP).
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert 'type="application/json"' in tag or "src=" in tag, tag


def test_the_form_offers_what_the_server_checks(client, plain_static, db):
    options = options_block(client.get("/sweeps/new").content.decode())
    assert options == {
        "aggregates": list(AGGREGATES),
        "objective": DEFAULT_OBJECTIVE,
        "fill": list(FILL_OPTIONS),
        "stop_mode": list(STOP_MODES),
        "intervals": list(INTERVALS),
    }


def test_a_sweep_page_names_its_api_and_an_unknown_sweep_is_404(client, plain_static, sweep):
    response = client.get(f"/sweeps/{sweep.id}/")
    assert response.status_code == 200 and page_has_csrf(response)  # cancel, resume, open as run
    html = response.content.decode()
    assert f'data-sweep-id="{sweep.id}"' in html and f'data-api-sweep="/api/sweeps/{sweep.id}/"' in html
    assert '<script type="module" src="/static/app/sweep_page.js">' in html
    assert options_block(html)["aggregates"] == list(AGGREGATES)
    assert client.get(f"/sweeps/{uuid.uuid4()}/").status_code == 404
    assert client.post(f"/sweeps/{sweep.id}/").status_code == 405


def test_echarts_is_the_pinned_version_and_imported_locally():
    pins = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    assert lock["node_modules/echarts"]["version"] == pins["echarts"]
    bundle = (ROOT / "static/vendor/echarts/echarts.esm.min.mjs").read_text()
    assert f'"{pins["echarts"]}"' in bundle and "export{" in bundle
    source = (ROOT / "static/app/sweep_page.js").read_text()
    assert 'from "../vendor/echarts/echarts.esm.min.mjs"' in source
    for module in MODULES:
        assert (ROOT / "static/app" / module).is_file()
