"""The HTML pages with Django's test client, and the static files they need (no browser here)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

from market_data.models import Cryptocurrency
from runs.models import BacktestRun
from strategies.models import Strategy
from tests.support import page_has_csrf

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "static" / "app"
VENDOR = ROOT / "static" / "vendor"
MANIFEST_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"


@pytest.fixture
def plain_static(settings, tmp_path):
    """Static files by their plain names, found by the finders: with DEBUG off the settings pick the
    manifest storage, which needs collectstatic first (test_collectstatic_* covers that storage)."""
    settings.STATIC_ROOT = tmp_path  # an empty one: whitenoise warns about a missing directory
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def run(db) -> BacktestRun:
    strategy = Strategy.objects.get_or_create(key="rsi", defaults={"name": "RSI Mean Reversion"})[0]
    return BacktestRun.objects.create(strategy=strategy, parameters={"rsi_period": 14}, status="completed")


def asset_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+\.(?:css|js|mjs))"', html)


def test_backtest_page_carries_the_csrf_token_and_loads_only_local_assets(client, plain_static, db):
    response = client.get("/")
    assert response.status_code == 200
    assert page_has_csrf(response)  # the page POSTs runs with X-CSRFToken
    html = response.content.decode()
    assets = asset_urls(html)
    assert "/static/vendor/bootstrap/bootstrap.min.css" in assets
    assert "/static/vendor/bootstrap/bootstrap.bundle.min.js" in assets
    assert "/static/app/main.js" in assets
    assert '<script type="module" src="/static/app/main.js">' in html
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "nothing may come from another host (no CDN)"
    assert 'id="backtest-page" data-run-id=""' in html


def test_pages_answer_get_and_head_only(client, plain_static, db):
    assert client.post("/").status_code == 405
    assert client.post("/runs/").status_code == 405
    # HEAD (uptime monitors, health checks) answers as GET does, without a body.
    for url in ("/", "/runs/", "/compare/", "/methods/", "/sweeps/", "/sweeps/new"):
        response = client.head(url)
        assert response.status_code == 200, url
        assert response.content == b"", url


def test_demo_badge_only_when_a_coin_is_demo_data(client, plain_static, db):
    Cryptocurrency.objects.create(symbol="AAA", name="Alpha")
    assert 'id="demo-badge"' not in client.get("/").content.decode()
    Cryptocurrency.objects.create(symbol="DDD", name="Delta (demo)", is_demo=True, is_active=False)
    assert 'id="demo-badge"' not in client.get("/").content.decode()  # inactive coins are not offered
    Cryptocurrency.objects.create(symbol="EEE", name="Echo (demo)", is_demo=True)
    for url in ("/", "/runs/"):
        assert 'id="demo-badge"' in client.get(url).content.decode()


def test_runs_page_lists_through_the_api(client, plain_static, db):
    response = client.get("/runs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-api-runs="/api/runs/"' in html
    assert '<script type="module" src="/static/app/runs.js">' in html


def test_stored_run_page_carries_its_id_and_an_unknown_run_is_404(client, plain_static, run):
    response = client.get(f"/runs/{run.id}/")
    assert response.status_code == 200
    assert f'data-run-id="{run.id}"' in response.content.decode()
    assert page_has_csrf(response)  # "run again", rename, cancel and delete post too
    assert client.get(f"/runs/{uuid.uuid4()}/").status_code == 404
    assert client.get("/runs/not-a-uuid/").status_code == 404


def test_every_module_import_resolves_to_a_file():
    imports = 0
    for module in APP.glob("*.js"):
        for target in re.findall(r'^\s*(?:import|export)[^"\']*from\s+["\']([^"\']+)["\']', module.read_text(), re.M):
            assert target.startswith("."), f"{module.name}: bare import {target!r} needs a build step"
            assert (module.parent / target).resolve().is_file(), f"{module.name}: {target} is missing"
            imports += 1
    assert imports >= 10


def test_page_scripts_never_parse_data_as_html():
    """Coin names, symbols and error messages are user data: the scripts set text, never markup."""
    for module in APP.glob("*.js"):
        source = module.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{module.name} uses {sink}"


def test_vendored_files_are_the_pinned_versions():
    pins = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    for name, version in pins.items():
        assert lock[f"node_modules/{name}"]["version"] == version
    css = (VENDOR / "bootstrap" / "bootstrap.min.css").read_text()
    js = (VENDOR / "bootstrap" / "bootstrap.bundle.min.js").read_text()
    charts = (VENDOR / "lightweight-charts" / "lightweight-charts.standalone.production.mjs").read_text()
    assert f"Bootstrap  v{pins['bootstrap']}" in css and f"Bootstrap v{pins['bootstrap']}" in js
    assert f"Lightweight Charts™ v{pins['lightweight-charts']}" in charts
    assert "export{" in charts and "createSeriesMarkers" in charts
    axe = (ROOT / "tests" / "browser" / "vendor" / "axe.min.js").read_text()
    assert axe.startswith(f"/*! axe v{pins['axe-core']}")
    for static_path in ("vendor/bootstrap/bootstrap.min.css", "app/main.js", "app/runs.js", "app/app.css"):
        assert finders.find(static_path), static_path


def test_collectstatic_then_the_app_serves_hashed_files_itself(db, settings, tmp_path):
    """The production set-up: collectstatic with the manifest storage, whitenoise in the app."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": MANIFEST_STORAGE}}
    call_command("collectstatic", interactive=False, verbosity=0)
    client = Client()  # a new handler: whitenoise reads STATIC_ROOT when it is built
    html = client.get("/").content.decode()
    assets = asset_urls(html)
    css = next(a for a in assets if a.startswith("/static/vendor/bootstrap/bootstrap.min."))
    assert re.fullmatch(r"/static/vendor/bootstrap/bootstrap\.min\.[0-9a-f]{12}\.css", css)
    response = client.get(css)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert "immutable" in response["Cache-Control"]  # hashed names are cached for good
    b"".join(response.streaming_content)
    # Modules import each other by plain relative names; those are served too.
    module = client.get("/static/vendor/lightweight-charts/lightweight-charts.standalone.production.mjs")
    assert module.status_code == 200 and module["Content-Type"].startswith("text/javascript")
    b"".join(module.streaming_content)


SITE_STORAGE = "backtest_site.staticstorage.StaticStorage"


def test_static_collected_with_debug_on_serves_a_server_with_debug_off(db, settings, tmp_path):
    """`make run` collects with DEBUG=1; the README's production server then runs with DEBUG=0.
    The storage is the manifest one either way, so the pages link hashed files instead of a 500."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": SITE_STORAGE}}
    settings.DEBUG = True
    call_command("collectstatic", interactive=False, verbosity=0)
    assert (tmp_path / "staticfiles.json").exists()
    settings.DEBUG = False
    response = Client().get("/")
    assert response.status_code == 200
    assert re.search(r'src="/static/app/main\.[0-9a-f]{12}\.js"', response.content.decode())


def test_a_server_with_debug_off_and_nothing_collected_links_plain_names(db, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path  # collectstatic never ran
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": SITE_STORAGE}}
    response = Client().get("/")
    assert response.status_code == 200
    assert '<script type="module" src="/static/app/main.js">' in response.content.decode()
    assert Client().get("/static/app/main.js").status_code == 200  # whitenoise finds it in static/


def test_the_plain_name_fallback_warns_only_for_files_that_exist(db, settings, tmp_path, caplog):
    """whitenoise asks the storage for names that exist nowhere (a hash-like part of a real file's
    name taken off); those get the storage's error, not the fallback's "run collectstatic" warning."""
    from django.core.files.storage import storages

    from backtest_site.staticstorage import StaticStorage

    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": SITE_STORAGE}}
    call_command("collectstatic", interactive=False, verbosity=0)
    storages._storages.pop("staticfiles", None)
    storage = StaticStorage()
    StaticStorage._warned = False
    with caplog.at_level("WARNING", logger="backtest_site.staticstorage"):
        with pytest.raises(ValueError):
            storage.stored_name("rest_framework/css/bootstrap-theme.min.map")  # the file is ...min.css.map
        assert not caplog.records
        assert re.fullmatch(r"app/main\.[0-9a-f]{12}\.js", storage.stored_name("app/main.js"))
        (ROOT / "static" / "app" / "added-after-collectstatic.js").write_text("")
        try:
            assert storage.stored_name("app/added-after-collectstatic.js") == "app/added-after-collectstatic.js"
        finally:
            (ROOT / "static" / "app" / "added-after-collectstatic.js").unlink()
    assert [r.getMessage() for r in caplog.records] == [
        "Static file 'app/added-after-collectstatic.js' is not in the collected manifest; linking plain names "
        "(run `manage.py collectstatic` for hashed, long-cached files)"
    ]
    StaticStorage._warned = False


def test_settings_pick_the_manifest_storage_whatever_debug_is():
    for debug in ("0", "1"):
        env = {**os.environ, "DEBUG": debug, "SECRET_KEY": "x" * 50, "DJANGO_SETTINGS_MODULE": "backtest_site.settings"}
        env.pop("STATIC_MANIFEST", None)
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "from django.conf import settings; print(settings.STORAGES['staticfiles']['BACKEND'])",
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == SITE_STORAGE, debug


def test_a_request_line_is_logged_once_by_the_development_server():
    """daphne's runserver logs each request on `django.channels.server`; Django's default config
    also gave the "django" logger a console handler of its own, so each line came out twice."""
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "backtest_site.settings"}
    code = "import django, logging; django.setup(); logging.getLogger('django.channels.server').info('HTTP GET /x 200')"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert (out.stdout + out.stderr).count("HTTP GET /x 200") == 1


def page_facts_of(html: str) -> dict:
    match = re.search(r'<script id="page-facts" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page carries its facts as json_script"
    return json.loads(match.group(1))


def test_pages_carry_the_facts_from_where_they_are_defined(client, plain_static, db):
    from market_data.models import INTERVALS
    from runs.models import FEW_TRADES, METRIC_DISPLAY, METRIC_FIELDS
    from strategies.engine import FEE_PCT

    for url in ("/", "/runs/"):
        facts = page_facts_of(client.get(url).content.decode())
        assert facts["fee"] == {
            "min": FEE_PCT.min,
            "max": FEE_PCT.max,
            "default": FEE_PCT.default,
            "label": FEE_PCT.display_name,
        }
        assert facts["intervals"] == list(INTERVALS)
        assert [m["key"] for m in facts["metrics"]] == list(METRIC_FIELDS)
        assert all(m["label"] == METRIC_DISPLAY[m["key"]]["label"] for m in facts["metrics"])
        assert facts["few_trades"] == FEW_TRADES
        assert [s["value"] for s in facts["statuses"]] == list(BacktestRun.Status.values)
        assert {s["value"]: s["style"] for s in facts["statuses"]} == BacktestRun.STATUS_STYLES
    html = client.get("/").content.decode()
    assert f'min="{FEE_PCT.min}" max="{FEE_PCT.max}"' in html
    assert all(f'<option value="{i}">' in html for i in INTERVALS)
    runs_html = client.get("/runs/").content.decode()
    assert all(f'<option value="{s}">{label}</option>' in runs_html for s, label in BacktestRun.Status.choices)


def test_scripts_keep_no_copy_of_the_facts():
    """Fee range, intervals, metric labels, statuses and their styles come from page-facts only."""
    from runs.models import METRIC_DISPLAY

    source = "\n".join(p.read_text() for p in APP.glob("*.js"))
    for copy in ('"4h"', "'4h'", '"1w"', "text-bg-success", "text-bg-danger", '"interrupted"'):
        assert copy not in source, copy
    for metric in METRIC_DISPLAY.values():
        assert f'"{metric["label"]}"' not in source, metric["label"]
    assert not re.search(r"FEE_(MIN|MAX)\s*=", source)


def test_counts_are_shown_as_counts():
    """A count (trades, a drawdown's duration in bars) reaches the page as an integer, never "2,251.00"."""
    from runs.models import INTEGER_METRICS, METRIC_DISPLAY

    assert "max_drawdown_duration" in INTEGER_METRICS
    assert {k for k, m in METRIC_DISPLAY.items() if m["unit"] == "int"} == set(INTEGER_METRICS)


def test_favicon_is_served(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_a_run_page_shows_the_demo_badge_only_for_a_run_of_demo_coins(client, plain_static, run):
    from runs.models import RunResult

    real = Cryptocurrency.objects.create(symbol="REAL", name="Real coin")
    Cryptocurrency.objects.create(symbol="DEMO", name="Demo (demo)", is_demo=True)  # in the catalogue, not the run
    RunResult.objects.create(run=run, crypto=real, crypto_symbol="REAL", crypto_name="Real coin", is_demo=False)
    assert 'id="demo-badge"' in client.get("/").content.decode()
    assert 'id="demo-badge"' not in client.get(f"/runs/{run.id}/").content.decode()
    demo = Cryptocurrency.objects.get(symbol="DEMO")
    RunResult.objects.create(run=run, crypto=demo, crypto_symbol="DEMO", crypto_name=demo.name, is_demo=True)
    assert 'id="demo-badge"' in client.get(f"/runs/{run.id}/").content.decode()


def test_the_run_form_offers_the_fill_presets_defined_once_on_the_server(client, plain_static, db):
    from runs.models import CUSTOM_PRESET, FILL_PRESETS
    from strategies.engine import FILL, SLIPPAGE_PCT, STOP_MODE

    html = client.get("/").content.decode()
    facts = page_facts_of(html)
    assert facts["fill_presets"] == [*FILL_PRESETS, CUSTOM_PRESET]
    assert [p["label"] for p in facts["fill_presets"]] == [
        "At the close (original)",
        "Next open",
        "Next open, intrabar stop, 0.05 % slippage",
        "Custom",
    ]
    assert [o["value"] for o in facts["fill_options"]["fill"]["options"]] == list(FILL.options)
    assert [o["value"] for o in facts["fill_options"]["stop_mode"]["options"]] == list(STOP_MODE.options)
    assert facts["slippage"]["max"] == SLIPPAGE_PCT.max
    for preset in facts["fill_presets"]:
        assert f'<option value="{preset["key"]}">' in html
    assert 'id="slippage_pct"' in html and 'id="fill"' in html and 'id="stop_mode"' in html
    assert 'href="/methods/' in html  # the run page links the methods


def test_scripts_keep_no_copy_of_the_fill_presets_or_option_labels():
    from runs.models import FILL_LABELS, FILL_PRESETS

    source = "\n".join(p.read_text() for p in APP.glob("*.js"))
    for preset in FILL_PRESETS:
        assert preset["label"] not in source, preset["label"]
    for labels in FILL_LABELS.values():
        for label in labels.values():
            assert f'"{label}"' not in source, label
    assert "at the signal bar's close" not in source  # the sweep form's old copy


def test_the_methods_page_states_each_metric_and_fill_option_from_the_engine(client, plain_static, db):
    from django.utils.html import escape

    from backtest_site.pages import DIFFERENCES
    from runs.models import FILL_PRESETS, FILL_TEXT
    from strategies.engine import METRICS

    response = client.get("/methods/")
    assert response.status_code == 200
    html = response.content.decode()
    for metric in METRICS:
        assert f'id="metric-{metric.name}"' in html
        assert escape(metric.label) in html and escape(metric.description) in html and escape(metric.formula) in html
    for texts in FILL_TEXT.values():
        for text in texts.values():
            assert escape(text) in html
    for preset in FILL_PRESETS:
        assert escape(preset["label"]) in html
    for title, _ in DIFFERENCES:
        assert escape(title) in html
    for words in ("vectorbt", "backtesting.py", "freqtrade", "end_of_data", "exactly rounded", "sqrt(P)"):
        assert words in html, words
    assert 'aria-current="page" href="/methods/"' in html


def test_every_result_page_links_the_methods(client, plain_static, run):
    for url in (f"/runs/{run.id}/", "/"):
        html = client.get(url).content.decode()
        assert 'id="run-methods-link"' in html and 'id="detail-methods-link"' in html
    sweep_html = (ROOT / "templates" / "pages" / "sweep_view.html").read_text()  # /sweeps/<id>/ and /sweeps/new show it
    assert "{% url 'methods-page' %}" in sweep_html
