"""The production guards (README "Security", "Production"): the admin login locks out an address
after AXES_FAILURE_LIMIT wrong passwords, anonymous reads are throttled per client address, every
page carries the Content-Security-Policy, /healthz says what is failing, /metrics counts.

The faults are real: the cache pointed at a port nothing listens on, the database at a path (or
port) that cannot be opened; the metrics are parsed with prometheus_client's own parser.
"""

from __future__ import annotations

import base64
import hashlib
import re
from contextlib import contextmanager

import pytest
from axes.exceptions import AxesBackendRequestParameterRequired
from django.conf import settings as site_settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import OperationalError, connection
from django.http import HttpRequest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from backtest_site.metrics import JOB_ERRORS
from runs import jobs
from runs.models import BacktestRun
from runs.streams import hub
from strategies.models import Strategy
from tests.support import free_port

PASSWORD = "right-password-for-the-test-only"
LOGIN = "/admin/login/?next=/admin/"


# --- the admin login -------------------------------------------------------------------------


@pytest.fixture
def admin_user(db):
    cache.clear()
    return User.objects.create_superuser("boss", "boss@example.com", PASSWORD)


def _login(client: Client, password: str, address: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": "boss", "password": password}, REMOTE_ADDR=address)


def test_admin_login_locks_an_address_out_after_the_failure_limit_even_with_the_right_password(admin_user, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "wrong").status_code == 200  # the form again, with its error
    assert _login(client, "wrong").status_code == 429  # the limit reached

    locked = _login(client, PASSWORD)
    assert locked.status_code == 429
    assert "Sign-in locked" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still not signed in

    other = Client()
    assert _login(other, PASSWORD, address="198.51.100.9").status_code == 302  # another address signs in
    assert other.get("/admin/").status_code == 200


def test_a_forged_forwarded_for_does_not_escape_the_lockout(admin_user, settings):
    client = Client()
    for k in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            LOGIN,
            {"username": "boss", "password": "wrong"},
            REMOTE_ADDR="203.0.113.7",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{k}",
        )
    response = client.post(
        LOGIN, {"username": "boss", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="10.9.9.9", REMOTE_ADDR="203.0.113.7"
    )
    assert response.status_code == 429


def test_a_success_before_the_limit_starts_the_count_again(admin_user, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "wrong")
    assert _login(client, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "wrong").status_code == 200
    assert _login(client, PASSWORD).status_code == 302


def test_the_test_clients_logins_still_work(admin_user):
    """force_login as before; login() needs a request for axes to judge, as its documentation says."""
    client = Client()
    with pytest.raises(AxesBackendRequestParameterRequired):
        client.login(username="boss", password=PASSWORD)
    assert client.login(request=HttpRequest(), username="boss", password=PASSWORD) is True
    assert client.get("/admin/").status_code == 200
    other = Client()
    other.force_login(admin_user)
    assert other.get("/admin/").status_code == 200


# --- anonymous reads --------------------------------------------------------------------------


@pytest.fixture
def read_rate(settings):
    cache.clear()
    settings.READS_THROTTLE_RATE = "3/min"
    yield settings
    cache.clear()


def test_anonymous_reads_are_throttled_per_client_address(seeded, read_rate):
    api = APIClient()
    for _ in range(3):
        assert api.get("/api/strategies/", REMOTE_ADDR="203.0.113.1").status_code == 200
    refused = api.get("/api/runs/", REMOTE_ADDR="203.0.113.1")  # one rate over every read endpoint
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "throttled" in refused.json()["detail"].lower()
    # Another address, and a forged X-Forwarded-For from the first (no TRUSTED_PROXIES), as counted.
    assert api.get("/api/strategies/", REMOTE_ADDR="203.0.113.2").status_code == 200
    assert api.get("/api/strategies/", REMOTE_ADDR="203.0.113.1", HTTP_X_FORWARDED_FOR="10.1.1.1").status_code == 429


def test_signed_in_users_and_writes_are_not_counted_as_anonymous_reads(seeded, read_rate):
    user = User.objects.create_user("reader")
    api = APIClient()
    api.force_login(user)
    for _ in range(5):
        assert api.get("/api/strategies/", REMOTE_ADDR="203.0.113.3").status_code == 200
    anon = APIClient()
    for _ in range(3):
        anon.get("/api/strategies/", REMOTE_ADDR="203.0.113.4")
    # The read budget spent, a write is still judged on its own (a 400 for an empty body, not a 429).
    assert anon.post("/api/runs/", {}, format="json", REMOTE_ADDR="203.0.113.4").status_code == 400


def test_the_read_rate_is_validated_at_start_up():
    from tests.test_settings import _django_setup

    out = _django_setup(SECRET_KEY="k" * 60, READS_THROTTLE_RATE="lots")
    assert out.returncode != 0
    assert "READS_THROTTLE_RATE must look like 600/min" in out.stderr


# --- the Content-Security-Policy ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/runs/", "/compare/", "/methods/", "/sweeps/", "/admin/login/", "/api/docs/"])
def test_every_page_has_the_content_security_policy(seeded, path):
    response = Client().get(path)
    assert response.status_code == 200
    policy = dict(
        (part.strip().split(" ", 1) + [""])[:2] for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["style-src"] == "'self'"  # so no style attribute either
    assert policy["style-src-elem"] == f"'self' {site_settings.LIGHTWEIGHT_CHARTS_LOGO_STYLE}"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"]
    html = response.content.decode()
    assert "<script>" not in html and "<style" not in html  # nothing inline that the policy would refuse


def test_the_one_inline_style_allowed_is_the_vendored_chart_logos():
    """lightweight-charts' attribution logo brings one <style> of constant text: its hash in the
    policy must be that of the vendored file's text (a new version of the library changes it)."""
    source = (
        site_settings.BASE_DIR / "static/vendor/lightweight-charts/lightweight-charts.standalone.production.mjs"
    ).read_text()
    texts = re.findall(r'createElement\("style"\),this\.\w+\.innerText="([^"]*)"', source)
    assert len(texts) == 1
    digest = base64.b64encode(hashlib.sha256(texts[0].encode()).digest()).decode()
    assert site_settings.LIGHTWEIGHT_CHARTS_LOGO_STYLE == f"'sha256-{digest}'"
    assert site_settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["style-src-elem"] == ["'self'", f"'sha256-{digest}'"]


# --- /healthz ---------------------------------------------------------------------------------


def test_healthz_is_200_with_each_check_on_a_working_setup(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {"database": True, "cache": True}
    assert body["pool_queue_length"] == 0
    assert response.headers["Cache-Control"].startswith("max-age=0")


def test_healthz_is_503_naming_the_cache_when_the_cache_is_unreachable(db):
    caches = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    with override_settings(CACHES=caches):
        response = Client().get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["cache"]["ok"] is False and "onnect" in checks["cache"]["error"]


@contextmanager
def database_unreachable(tmp_path):
    """This thread's connection pointed at a database that cannot be opened: a file in a directory
    that does not exist (SQLite), a port nothing listens on (PostgreSQL). Restored after."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = str(tmp_path / "no-such-dir" / "db.sqlite3")
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def test_healthz_is_503_naming_the_database_when_it_cannot_be_reached(transactional_db, tmp_path):
    with database_unreachable(tmp_path):
        response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["checks"]["database"]["ok"] is False and body["checks"]["database"]["error"]
    assert body["checks"]["cache"]["ok"] is True
    assert Client().get("/healthz").status_code == 200  # and back once it is


@pytest.mark.parametrize(("reachable", "code"), [(True, 200), (False, 503)])
def test_healthz_checks_the_broker_when_one_is_configured(db, settings, reachable, code):
    """RabbitMQ on this machine (5672), or a port nothing listens on."""
    port = 5672 if reachable else free_port()
    settings.CELERY_BROKER_URL = f"amqp://guest:guest@127.0.0.1:{port}//"
    response = Client().get("/healthz")
    assert response.status_code == code, response.content
    assert response.json()["checks"]["broker"]["ok"] is reachable


# --- /metrics -----------------------------------------------------------------------------------


def _scrape() -> dict[str, dict[tuple, float]]:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_metrics_parse_and_count_what_the_database_holds(seeded):
    strategy = Strategy.objects.first()
    for status, n in (("completed", 3), ("failed", 1), ("running", 2)):
        for _ in range(n):
            BacktestRun.objects.create(strategy=strategy, status=status, parameters={}, symbols=[])
    metrics = _scrape()
    runs = {dict(labels)["status"]: value for labels, value in metrics["backtest_runs"].items()}
    expected = {s: BacktestRun.objects.filter(status=s).count() for s in BacktestRun.Status.values}
    assert runs == expected
    assert (runs["completed"], runs["failed"], runs["running"], runs["pending"]) == (3, 1, 2, 0)
    assert metrics["backtest_open_streams"][()] == hub.open_count()
    assert metrics["backtest_pool_queue_length"][()] >= 0


def test_metrics_count_open_streams_and_job_errors(transactional_db, tmp_path):
    before = _scrape()
    hub.open_stream("203.0.113.50")
    hub.open_stream("203.0.113.51")
    try:
        during = _scrape()
    finally:
        hub.close_stream("203.0.113.50")
        hub.close_stream("203.0.113.51")
    assert during["backtest_open_streams"][()] == before["backtest_open_streams"][()] + 2

    # A job that loses its database: counted as a job error, and raised to the backend as before.
    with database_unreachable(tmp_path), pytest.raises(OperationalError):
        jobs.run_chunk("00000000-0000-0000-0000-000000000000", [1])
    after = _scrape()["backtest_job_errors_total"]
    assert after[(("kind", "job"),)] == before["backtest_job_errors_total"][(("kind", "job"),)] + 1
    assert JOB_ERRORS.labels(kind="job")._value.get() == after[(("kind", "job"),)]
