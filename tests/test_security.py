"""Who may do what, the deployment settings, and user text that never reaches SQL as code.

- The catalogue (coins, prices, strategies with their parameters) is read-only over the API,
  for everyone: anonymous 403, logged in (even a superuser) 405, and nothing changes.
- The admin needs a staff login, and every write in it needs the model permission.
- With DEBUG off: `check --deploy` is clean but for the two HTTPS warnings that belong to the
  TLS-terminating proxy; cookies are Secure; the security headers are on every response.
- A symbol or query value holding SQL is data: a 404/400 or stored literally; the table survives.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from market_data import services
from market_data.models import Cryptocurrency, Price
from market_data.parsing import PriceBar
from strategies.admin import PARAMETER_FIELDS
from strategies.models import Strategy, StrategyParameter

ROOT = Path(__file__).resolve().parent.parent
KEY = "a-secret-key-from-the-environment-for-the-security-tests-0123456789abcdef"
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
INJECTION = "BTC'; DROP TABLE crypto_prices;--"


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def market(seeded):
    coin = Cryptocurrency.objects.create(symbol="BTC", name="Bitcoin")
    bars = [PriceBar(T0 + dt.timedelta(hours=i), 100.0 + i, 102.0 + i, 99.0 + i, 101.0 + i, 5.0) for i in range(24)]
    services.prices_bulk_upsert(crypto_id=coin.id, interval="1h", bars=bars)
    return coin


# Users without a password (nothing to hash, so fast): the tests log them in with force_login.
@pytest.fixture
def user(db):
    return User.objects.create_user("reader")


@pytest.fixture
def staff(db):
    """Staff, but without any model permission."""
    return User.objects.create_user("staff", is_staff=True)


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root")


@pytest.fixture
def admin(superuser):
    client = Client()
    client.force_login(superuser)
    return client


def catalogue_snapshot() -> tuple:
    """Every row of the catalogue's four tables, so 'nothing changed' can be asserted."""
    return tuple(
        list(model.objects.order_by("pk").values_list())
        for model in (Strategy, StrategyParameter, Cryptocurrency, Price)
    )


# --- the catalogue API is read-only -----------------------------------------------------

CATALOGUE = [
    "/api/cryptocurrencies/",
    "/api/cryptocurrencies/BTC/",
    "/api/cryptocurrencies/BTC/prices/",
    "/api/strategies/",
    "/api/strategies/1/",
]
WRITE = {"symbol": "HACK", "name": "changed", "key": "rsi", "is_active": False, "parameters": [], "close": 1}


@pytest.mark.parametrize("path", CATALOGUE)
@pytest.mark.parametrize(("who", "refused_with"), [("anonymous", 403), ("user", 405), ("superuser", 405)])
def test_catalogue_writes_are_refused_and_change_nothing(market, user, superuser, path, who, refused_with):
    api = APIClient()
    if who != "anonymous":
        api.force_login(user if who == "user" else superuser)
    assert api.get(path).status_code == 200  # readable by all
    before = catalogue_snapshot()

    statuses = {
        method: getattr(api, method)(path, WRITE, format="json").status_code
        for method in ("post", "put", "patch", "delete")
    }

    assert statuses == dict.fromkeys(statuses, refused_with)
    assert catalogue_snapshot() == before


# --- the admin needs staff, and each write the model permission ------------------------

CHANGE_PAGE = "/admin/strategies/strategy/1/change/"


def change_form(strategy: Strategy, **defaults: str) -> dict[str, str]:
    """The strategy's admin change form as a browser posts it, with some parameter defaults edited."""
    rows = list(strategy.parameters.order_by("display_order", "id"))
    data = {
        "name": strategy.name,
        "key": strategy.key,
        "description": strategy.description,
        "is_active": "on" if strategy.is_active else "",
        "parameters-TOTAL_FORMS": str(len(rows)),
        "parameters-INITIAL_FORMS": str(len(rows)),
        "parameters-MIN_NUM_FORMS": "0",
        "parameters-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for field in PARAMETER_FIELDS:
            value = getattr(row, field)
            if field == "default_value":
                value = defaults.get(row.parameter_name, value)
            data[f"parameters-{i}-{field}"] = (
                ("on" if value else "") if isinstance(value, bool) else ("" if value is None else str(value))
            )
        data[f"parameters-{i}-id"] = str(row.id)
        data[f"parameters-{i}-strategy"] = str(strategy.id)
    return {k: v for k, v in data.items() if v != ""}


def rsi_period_default() -> str:
    return StrategyParameter.objects.get(strategy_id=1, parameter_name="rsi_period").default_value


@pytest.mark.parametrize("who", ["anonymous", "user"])
def test_admin_sends_anyone_but_staff_to_the_login_page(seeded, user, who):
    client = Client()
    if who == "user":
        client.force_login(user)
    before = rsi_period_default()

    page = client.get(CHANGE_PAGE)
    post = client.post(CHANGE_PAGE, change_form(Strategy.objects.get(id=1), rsi_period="21"))

    for response in (page, post):
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")
    assert rsi_period_default() == before


def test_staff_without_model_permissions_can_neither_see_nor_change_a_strategy(seeded, staff):
    client = Client()
    client.force_login(staff)
    before = rsi_period_default()

    assert client.get(CHANGE_PAGE).status_code == 403
    assert client.post(CHANGE_PAGE, change_form(Strategy.objects.get(id=1), rsi_period="21")).status_code == 403
    assert rsi_period_default() == before


def test_staff_with_view_permission_only_sees_but_cannot_change(seeded, staff):
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_strategy", "view_strategyparameter"]))
    client = Client()
    client.force_login(staff)
    before = rsi_period_default()

    page = client.get(CHANGE_PAGE)
    assert page.status_code == 200 and b"rsi_period" in page.content
    assert client.post(CHANGE_PAGE, change_form(Strategy.objects.get(id=1), rsi_period="21")).status_code == 403
    assert rsi_period_default() == before


def test_a_superuser_opens_and_changes_a_strategy_parameter(seeded, admin):
    page = admin.get(CHANGE_PAGE)
    assert page.status_code == 200 and b"rsi_period" in page.content

    response = admin.post(CHANGE_PAGE, change_form(Strategy.objects.get(id=1), rsi_period="21"))

    assert response.status_code == 302, response.context and response.context.get("errors")
    assert rsi_period_default() == "21"


# --- DEBUG off: check --deploy, secret key, cookies, headers ----------------------------

# Variables that would change what is checked; the tests set their own. (The root conftest sets
# DJANGO_ALLOW_ASYNC_UNSAFE for the test process; the deploy check rightly refuses it.)
_CLEARED = {
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "STATIC_MANIFEST",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
}


def run_django(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "backtest_site.settings", "SECRET_KEY": KEY, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def check_issues(output: str) -> dict[str, list[tuple[str, str]]]:
    """{section: [(check id, line)]} of `manage.py check` output (sections ERRORS, WARNINGS, ...)."""
    issues: dict[str, list[tuple[str, str]]] = {}
    section = None
    for line in output.splitlines():
        if re.fullmatch(r"[A-Z]+:", line.strip()):
            section = line.strip()[:-1]
        elif section and (found := re.search(r"\(([\w.]+\.[A-Z]\d+)\)", line)):
            issues.setdefault(section, []).append((found.group(1), line))
    return issues


def test_deploy_check_with_the_defaults_warns_only_about_https_left_to_the_proxy():
    out = run_django(["manage.py", "check", "--deploy"])
    issues = check_issues(out.stdout + out.stderr)

    assert out.returncode == 0, out.stderr
    assert set(issues) <= {"WARNINGS"}, issues  # no ERRORS, CRITICALS
    warnings = issues.get("WARNINGS", [])
    assert {i for i, _ in warnings if i.startswith("security.")} == {"security.W004", "security.W008"}
    # drf-spectacular's schema warnings (an authenticator it cannot describe, ...) count too.
    assert [line for i, line in warnings if not i.startswith("security.")] == []


def test_schema_describes_the_csrf_token_that_anonymous_writes_need():
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    scheme = schema["components"]["securitySchemes"]["csrfToken"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-CSRFToken")
    create = schema["paths"]["/api/runs/"]["post"]
    assert {"csrfToken": []} in create["security"]


def test_deploy_check_is_clean_once_https_is_switched_on():
    out = run_django(
        ["manage.py", "check", "--deploy"],
        SECURE_SSL_REDIRECT="1",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
        SECURE_HSTS_PRELOAD="1",
    )
    issues = check_issues(out.stdout + out.stderr)

    assert out.returncode == 0, out.stderr
    assert [i for section in issues.values() for i, _ in section if i.startswith("security.")] == []


_PROBE = """
import json, os, tempfile, django
# A database of its own with the sessions table: the login page's CSRF token is kept in the session.
_tmp = tempfile.TemporaryDirectory()  # removed at exit
os.environ["DATABASE_URL"] = "sqlite:///" + os.path.join(_tmp.name, "probe.sqlite3")
django.setup()
from django.core.management import call_command
call_command("migrate", "sessions", verbosity=0)
from django.conf import settings
from django.test import Client
response = Client(HTTP_HOST="localhost").get("/admin/login/")
# The CSRF secret is kept in the session (CSRF_USE_SESSIONS): the login form's token comes with
# the session cookie, and no csrftoken cookie is set.
cookie = response.cookies.get(settings.SESSION_COOKIE_NAME)
print(json.dumps({
    "secret_key": settings.SECRET_KEY,
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "csrf_cookie_secure": settings.CSRF_COOKIE_SECURE,
    "status": response.status_code,
    "csrftoken_cookie": "csrftoken" in response.cookies,
    "csrf_use_sessions": settings.CSRF_USE_SESSIONS,
    "csrf_cookie_flags": (
        None if cookie is None else {"secure": bool(cookie["secure"]), "httponly": bool(cookie["httponly"])}
    ),
}))
"""


def probe(**env: str) -> dict:
    """Settings and a real login-page response of a process started as in production."""
    out = run_django(["-c", _PROBE], STATIC_MANIFEST="0", **env)  # no collectstatic here
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_with_debug_off_the_secret_key_comes_from_the_environment_and_cookies_are_secure():
    seen = probe()

    assert seen["secret_key"] == KEY
    assert seen["session_cookie_secure"] is True and seen["csrf_cookie_secure"] is True
    # Served over plain http (no redirect: TLS is the proxy's), and the cookie it sets is Secure.
    assert seen["status"] == 200
    assert seen["csrf_use_sessions"] is True and seen["csrftoken_cookie"] is False
    # The session cookie that carries the CSRF secret: Secure, and out of reach of scripts.
    assert seen["csrf_cookie_flags"] == {"secure": True, "httponly": True}


def test_with_debug_on_cookies_work_over_plain_http():
    seen = probe(DEBUG="1")

    assert seen["session_cookie_secure"] is False and seen["csrf_cookie_secure"] is False
    assert seen["csrf_cookie_flags"]["secure"] is False


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@pytest.mark.parametrize(
    "path",
    [
        "/api/strategies/",
        "/api/cryptocurrencies/BTC/prices/",
        "/api/cryptocurrencies/NOPE/",
        "/admin/login/",
        "/api/schema/",
    ],
)
def test_security_headers_are_on_every_kind_of_response(market, path):
    response = Client().get(path)

    assert response.status_code in (200, 404)
    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


# --- user text reaches SQL only as data -------------------------------------------------


def assert_tables_survive(bars: int) -> None:
    assert {"crypto_prices", "cryptocurrencies"} <= set(connection.introspection.table_names())
    assert Price.objects.count() == bars


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        (f"/api/cryptocurrencies/{quote(INJECTION)}/", 404, "detail"),
        (f"/api/cryptocurrencies/{quote(INJECTION)}/prices/", 404, "detail"),
        (f"/api/cryptocurrencies/BTC/prices/?interval={quote(INJECTION)}", 400, "interval"),
        (f"/api/cryptocurrencies/BTC/prices/?start={quote(INJECTION)}", 400, "start"),
        (f"/api/cryptocurrencies/BTC/prices/?end={quote(INJECTION)}", 400, "end"),
        (f"/api/cryptocurrencies/BTC/prices/?page={quote(INJECTION)}", 400, "page"),
        (f"/api/cryptocurrencies/BTC/prices/?page_size={quote(INJECTION)}", 400, "page_size"),
        (f"/api/strategies/{quote(INJECTION)}/", 404, "detail"),
        (f"/api/runs/00000000-0000-0000-0000-000000000000/results/{quote(INJECTION)}/", 404, "detail"),
    ],
)
def test_sql_in_a_path_or_query_is_data(market, path, status, field):
    response = APIClient().get(path)

    assert response.status_code == status
    assert field in response.json()
    assert_tables_survive(24)


def test_sql_in_the_admin_search_is_data(market, admin):
    response = admin.get("/admin/market_data/cryptocurrency/", {"q": INJECTION})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    assert_tables_survive(24)


def test_sql_as_an_import_symbol_is_refused_and_as_a_name_stored_literally(market, tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("datetime,open,high,low,close\n2024-02-01T00:00:00,1,2,0.5,1.5\n")

    with pytest.raises(CommandError, match="symbol .* refused"):
        call_command("import_prices", str(csv), symbol=INJECTION)
    assert_tables_survive(24)

    name = "Bitcoin'); DROP TABLE crypto_prices;--"
    call_command("import_prices", str(csv), symbol="SQLI", name=name)
    assert Cryptocurrency.objects.get(symbol="SQLI").name == name
    assert_tables_survive(25)
