"""Browser writes to the run API need the CSRF token; the original endpoint stays open to scripts.

A browser is a client that has loaded a page: it holds the session cookie, whose session keeps
the CSRF secret (CSRF_USE_SESSIONS), and the page reads the token from <meta name="csrf-token">.
"""

import pytest
from django.test import Client

from runs.models import BacktestRun
from tests.support import client_csrf_token

BODY = {"strategy_id": 1, "start_date": "2024-01-01", "end_date": "2024-12-31"}


@pytest.fixture
def browser():
    return Client(enforce_csrf_checks=True)


def test_run_create_without_csrf_token_is_refused_and_nothing_is_stored(browser, seeded):
    browser.get("/")  # the browser holds the page's session cookie, as any visitor does
    assert browser.cookies
    response = browser.post("/api/runs/", BODY, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert BacktestRun.objects.count() == 0


def test_run_create_with_the_page_csrf_token_is_accepted(browser, coins):
    token = client_csrf_token(browser)
    response = browser.post("/api/runs/", BODY, content_type="application/json", headers={"X-CSRFToken": token})
    assert response.status_code == 201, response.content
    assert BacktestRun.objects.filter(id=response.json()["id"]).exists()


def test_cancel_without_csrf_token_is_refused(browser, coins):
    token = client_csrf_token(browser)
    created = browser.post("/api/runs/", BODY, content_type="application/json", headers={"X-CSRFToken": token})
    run_id = created.json()["id"]
    # With the session and the run's own cancel token, but no CSRF token: refused for CSRF.
    refused = browser.post(f"/api/runs/{run_id}/cancel/", headers={"X-Cancel-Token": created.json()["cancel_token"]})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    browser.cookies.clear()
    # No cookies and no cancel token: refused as not the run's owner.
    assert browser.post(f"/api/runs/{run_id}/cancel/").status_code == 403
    assert BacktestRun.objects.get(id=run_id).status != BacktestRun.Status.CANCELLED


def test_original_endpoint_needs_no_csrf_token(browser, coins):
    response = browser.post("/api/crypto/backtest/stream", {**BODY, "strategy_id": 99}, content_type="application/json")
    # Refused for the unknown strategy (400), not for CSRF (403): scripts keep working.
    assert response.status_code == 400
    assert "strategy_id" in response.json()["errors"]
