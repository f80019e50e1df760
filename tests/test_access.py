"""Access that scripts can use and no one can abuse (README "Scripts", runs/CONTRACT.md "Access").

API tokens need no CSRF; an invented CSRF pair is refused; a request with no cookies may create
runs; only a run's (or sweep's) owner or staff may cancel, rename, delete (resume); one client
holds at most BACKTEST_CLIENT_CONCURRENCY runs in progress.

In the `db` tests a created run stays `pending` (its start waits for a commit that never comes):
runs are held in progress without any backend.
"""

from __future__ import annotations

import http.client
import json
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from market_data.models import Cryptocurrency
from runs.access import token_hash
from runs.models import BacktestRun
from sweeps.models import Sweep
from tests.support import client_csrf_token, server_csrf_headers, setting_in_a_fresh_process, wait_run

pytestmark = pytest.mark.usefixtures("runs_settings")

BODY = {"strategy_id": 1, "parameters": {}, "start_date": "2024-01-01", "end_date": "2024-12-31"}
SWEEP = {**BODY, "strategy_id": 2, "grid": {"fast_ma_period": [5, 10]}}


@pytest.fixture
def coin(db, seeded):
    return Cryptocurrency.objects.create(symbol="AAA", name="Alpha")


@pytest.fixture
def users(db):
    model = get_user_model()
    return {
        "alice": model.objects.create_user("alice", password="pw-alice-123"),
        "bob": model.objects.create_user("bob", password="pw-bob-123"),
        "staff": model.objects.create_user("staff", password="pw-staff-123", is_staff=True),
    }


def browser(**extra) -> Client:
    """A client as a browser is: CSRF enforced."""
    return Client(enforce_csrf_checks=True, **extra)


def token_of(user) -> str:
    return Token.objects.create(user=user).key


def create(client: Client, path: str = "/api/runs/", body=BODY, **headers):
    return client.post(path, body, content_type="application/json", headers=headers)


# --- API tokens and CSRF ----------------------------------------------------------------


def test_a_script_with_an_api_token_needs_no_csrf_and_owns_its_run(coin, users):
    key = token_of(users["alice"])
    response = create(browser(), Authorization=f"Token {key}")
    assert response.status_code == 201, response.content
    run = BacktestRun.objects.get(id=response.json()["id"])
    assert run.created_by == users["alice"] and run.client == f"user:{users['alice'].pk}"
    assert response.json()["cancel_token"] is None  # owned by the user, not by a token
    # The token alone cancels it, with no CSRF token and no cookie.
    cancel = browser().post(f"/api/runs/{run.id}/cancel/", headers={"Authorization": f"Token {key}"})
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled"


def test_a_wrong_api_token_is_401_and_stores_nothing(coin):
    response = create(browser(), Authorization="Token " + "0" * 40)
    assert response.status_code == 401 and "token" in response.json()["detail"].lower()
    assert response["WWW-Authenticate"] == "Token"
    assert BacktestRun.objects.count() == 0


def test_an_invented_csrf_pair_is_refused(coin):
    """The double-submit trick (a script's own csrftoken cookie and the same X-CSRFToken) no longer
    works: the secret is in the session, which a script cannot invent either."""
    invented = "a" * 32
    client = browser()
    client.cookies["csrftoken"] = invented
    refused = create(client, **{"X-CSRFToken": invented})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    client.cookies["sessionid"] = "invented-session-key-0123456789"
    refused = create(client, **{"X-CSRFToken": invented})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert BacktestRun.objects.count() == 0


def test_the_page_token_of_one_session_does_not_work_in_another(coin):
    token = client_csrf_token(browser())  # a real page token, of another visitor's session
    other = browser()
    other.get("/")
    refused = create(other, **{"X-CSRFToken": token})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert BacktestRun.objects.count() == 0


def test_a_request_with_no_cookies_may_create_runs_but_only_as_json(coin):
    response = create(browser())
    assert response.status_code == 201, response.content
    assert response.json()["cancel_token"]
    # A cross-site form cannot send JSON without a preflight: anything else is 415, nothing stored.
    form = browser().post("/api/runs/", json.dumps(BODY), content_type="text/plain")
    assert form.status_code == 415
    sweep_form = browser().post("/api/sweeps/", "strategy_id=2", content_type="application/x-www-form-urlencoded")
    assert sweep_form.status_code == 415
    assert BacktestRun.objects.count() == 1 and Sweep.objects.count() == 0


def test_over_a_real_server_a_token_needs_no_csrf_and_the_page_keeps_it(coins, asgi_server):
    user = get_user_model().objects.create_user("carol", password="pw-carol-123")
    key = token_of(user)

    def post(headers: dict[str, str]) -> tuple[int, dict]:
        conn = http.client.HTTPConnection(asgi_server.host, asgi_server.port, timeout=30)
        try:
            conn.request("POST", "/api/runs/", json.dumps(BODY), {"Content-Type": "application/json", **headers})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    status, body = post({"Authorization": f"Token {key}"})
    assert status == 201, body
    page = server_csrf_headers(asgi_server)
    status, refused = post({"Cookie": page["Cookie"]})  # the page's session without its token
    assert status == 403 and "CSRF" in refused["detail"]
    status, accepted = post(page)
    assert status == 201, accepted
    assert accepted["cancel_token"]  # an anonymous visitor's run: the page keeps this token
    for run_id in (body["id"], accepted["id"]):
        assert wait_run(run_id).status == BacktestRun.Status.COMPLETED
    assert BacktestRun.objects.get(id=body["id"]).created_by == user


# --- Owners -------------------------------------------------------------------------------


def test_only_the_cancel_token_holder_or_staff_may_cancel_an_anonymous_run(coin, users):
    created = create(browser(REMOTE_ADDR="10.1.0.1")).json()
    run_id, token = created["id"], created["cancel_token"]
    stored = BacktestRun.objects.get(id=run_id)
    assert stored.cancel_token_hash == token_hash(token) and token not in stored.cancel_token_hash  # a hash only

    stranger = browser(REMOTE_ADDR="10.1.0.2")
    for headers in ({}, {"X-Cancel-Token": "not-the-token"}):
        refused = stranger.post(f"/api/runs/{run_id}/cancel/", headers=headers)
        assert refused.status_code == 403 and "X-Cancel-Token" in refused.json()["detail"]
    signed_in = browser()
    signed_in.force_login(users["bob"])
    csrf = client_csrf_token(signed_in)
    assert signed_in.post(f"/api/runs/{run_id}/cancel/", headers={"X-CSRFToken": csrf}).status_code == 403
    assert BacktestRun.objects.get(id=run_id).status == BacktestRun.Status.PENDING

    cancelled = stranger.post(f"/api/runs/{run_id}/cancel/", headers={"X-Cancel-Token": token})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    other = create(browser()).json()["id"]
    staff = browser()
    staff.force_login(users["staff"])
    csrf = client_csrf_token(staff)
    assert staff.post(f"/api/runs/{other}/cancel/", headers={"X-CSRFToken": csrf}).status_code == 200


def test_rename_and_delete_are_the_owners_too(coin, users):
    created = create(browser()).json()
    run_id, token = created["id"], created["cancel_token"]
    BacktestRun.objects.filter(id=run_id).update(status=BacktestRun.Status.COMPLETED)
    stranger = browser()
    renamed = stranger.patch(f"/api/runs/{run_id}/", {"name": "mine now"}, content_type="application/json")
    assert renamed.status_code == 403 and "rename" in renamed.json()["detail"]
    assert stranger.delete(f"/api/runs/{run_id}/").status_code == 403
    assert BacktestRun.objects.get(id=run_id).name == ""

    owner = {"X-Cancel-Token": token}
    renamed = stranger.patch(f"/api/runs/{run_id}/", {"name": "RSI"}, content_type="application/json", headers=owner)
    assert renamed.status_code == 200 and renamed.json()["name"] == "RSI"
    assert stranger.delete(f"/api/runs/{run_id}/", headers=owner).status_code == 204
    assert not BacktestRun.objects.filter(id=run_id).exists()


def test_a_signed_in_users_run_is_theirs_and_a_run_without_owner_is_staffs(coin, users):
    alice = browser()
    alice.force_login(users["alice"])
    csrf = {"X-CSRFToken": client_csrf_token(alice)}
    run_id = create(alice, **csrf).json()["id"]
    bob = browser()
    bob.force_login(users["bob"])
    bob_csrf = {"X-CSRFToken": client_csrf_token(bob)}
    refused = bob.post(f"/api/runs/{run_id}/cancel/", headers=bob_csrf)
    assert refused.status_code == 403 and "the user who started" in refused.json()["detail"]
    assert alice.post(f"/api/runs/{run_id}/cancel/", headers=csrf).status_code == 200

    # A run from before owners (or the original endpoint): no one but staff.
    legacy = create(browser()).json()["id"]
    BacktestRun.objects.filter(id=legacy).update(cancel_token_hash="", client="")
    for client, headers in ((browser(), {}), (alice, csrf)):
        refused = client.post(f"/api/runs/{legacy}/cancel/", headers=headers)
        assert refused.status_code == 403 and "only staff" in refused.json()["detail"]
    staff = browser()
    staff.force_login(users["staff"])
    assert (
        staff.post(f"/api/runs/{legacy}/cancel/", headers={"X-CSRFToken": client_csrf_token(staff)}).status_code == 200
    )


def test_a_run_of_the_original_endpoint_counts_for_its_client_and_is_staffs(coin, users):
    response = create(browser(REMOTE_ADDR="10.3.0.1"), path="/api/crypto/backtest/stream")
    assert response.status_code == 200 and response.streaming
    run = BacktestRun.objects.get()
    assert (run.created_by, run.cancel_token_hash, run.client) == (None, "", "addr:10.3.0.1")


def test_only_a_sweeps_owner_or_staff_may_cancel_or_resume_it(coin, users):
    created = create(browser(), path="/api/sweeps/", body=SWEEP)
    assert created.status_code == 201, created.content
    sweep_id, token = created.json()["id"], created.json()["cancel_token"]
    stranger = browser()
    for action in ("cancel", "resume"):
        refused = stranger.post(f"/api/sweeps/{sweep_id}/{action}/")
        assert refused.status_code == 403 and action in refused.json()["detail"]
    assert Sweep.objects.get(id=sweep_id).status == Sweep.Status.PENDING
    owner = {"X-Cancel-Token": token}
    assert stranger.post(f"/api/sweeps/{sweep_id}/cancel/", headers=owner).json()["status"] == "cancelled"
    # Resume is the owner's too (a cancelled sweep does not resume: 409, past the owner check).
    assert stranger.post(f"/api/sweeps/{sweep_id}/resume/", headers=owner).status_code == 409
    staff = browser()
    staff.force_login(users["staff"])
    assert (
        staff.post(f"/api/sweeps/{sweep_id}/resume/", headers={"X-CSRFToken": client_csrf_token(staff)}).status_code
        == 409
    )


def test_the_detail_of_a_run_or_sweep_says_whether_the_request_may_control_it(coin, users):
    """`controllable` is what the pages show their controls by: true exactly where the control
    would answer, false where it would be 403."""
    alice = browser()
    alice.force_login(users["alice"])
    staff = browser()
    staff.force_login(users["staff"])
    alices_run = create(alice, **{"X-CSRFToken": client_csrf_token(alice)}).json()["id"]
    for path, body in (("/api/runs/", BODY), ("/api/sweeps/", SWEEP)):
        created = create(browser(), path=path, body=body).json()
        url, token = created["url"], created["cancel_token"]
        stranger = browser()
        assert stranger.get(url).json()["controllable"] is False
        assert stranger.get(url, headers={"X-Cancel-Token": "not-the-token"}).json()["controllable"] is False
        assert stranger.get(url, headers={"X-Cancel-Token": token}).json()["controllable"] is True
        assert staff.get(url).json()["controllable"] is True
        assert alice.get(url).json()["controllable"] is False
    assert alice.get(f"/api/runs/{alices_run}/").json()["controllable"] is True
    assert browser().get(f"/api/runs/{alices_run}/").json()["controllable"] is False


# --- Per-client share of the concurrency limit ------------------------------------------


def test_one_client_holds_at_most_its_share_while_another_still_starts_runs(coin, users, settings):
    settings.BACKTEST_MAX_CONCURRENT_RUNS = 6
    settings.BACKTEST_CLIENT_CONCURRENCY = 2
    greedy = browser(REMOTE_ADDR="10.2.0.1")
    assert [create(greedy).status_code for _ in range(2)] == [201, 201]
    for path, body in (("/api/runs/", BODY), ("/api/crypto/backtest/stream", BODY), ("/api/sweeps/", SWEEP)):
        refused = create(greedy, path=path, body=body)
        assert refused.status_code == 429, (path, refused.content)
        assert "you already have 2 runs in progress" in refused.json()["detail"]
        assert int(refused["Retry-After"]) > 0
    assert create(browser(REMOTE_ADDR="10.2.0.2")).status_code == 201
    # A user is a client of its own, wherever it connects from.
    key = token_of(users["alice"])
    assert create(browser(REMOTE_ADDR="10.2.0.1"), Authorization=f"Token {key}").status_code == 201
    assert BacktestRun.objects.filter(client="addr:10.2.0.1").count() == 2
    assert Sweep.objects.count() == 0
    # Once one of its runs has ended, the client may start another.
    BacktestRun.objects.filter(id=BacktestRun.objects.filter(client="addr:10.2.0.1").first().id).update(
        status=BacktestRun.Status.COMPLETED
    )
    assert create(greedy).status_code == 201


def test_a_resumed_sweep_is_held_to_its_clients_share_and_the_limit(coin, users, settings):
    """Resuming starts a sweep again, as creating one does: within its client's share and the limit."""
    settings.BACKTEST_MAX_CONCURRENT_RUNS = 6
    settings.BACKTEST_CLIENT_CONCURRENCY = 2
    auth = {"Authorization": f"Token {token_of(users['alice'])}"}
    created = create(browser(), path="/api/sweeps/", body=SWEEP, **auth)
    assert created.status_code == 201, created.content
    sweep_id = created.json()["id"]
    Sweep.objects.filter(id=sweep_id).update(status=Sweep.Status.INTERRUPTED)
    held = [
        BacktestRun.objects.create(strategy_id=1, status="running", client=f"user:{users['alice'].pk}")
        for _ in range(2)
    ]
    refused = browser().post(f"/api/sweeps/{sweep_id}/resume/", headers=auth)
    assert refused.status_code == 429, refused.content
    assert "you already have 2 runs in progress" in refused.json()["detail"] and int(refused["Retry-After"]) > 0
    assert Sweep.objects.get(id=sweep_id).status == Sweep.Status.INTERRUPTED
    BacktestRun.objects.filter(id__in=[r.id for r in held]).update(status="completed")
    settings.BACKTEST_MAX_CONCURRENT_RUNS = 1  # another client's run fills the whole limit
    BacktestRun.objects.create(strategy_id=1, status="running", client="addr:10.9.9.9")
    assert browser().post(f"/api/sweeps/{sweep_id}/resume/", headers=auth).status_code == 429
    BacktestRun.objects.filter(client="addr:10.9.9.9").update(status="completed")
    resumed = browser().post(f"/api/sweeps/{sweep_id}/resume/", headers=auth)
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"


def _share_in_a_fresh_process(**env: str) -> str:
    return setting_in_a_fresh_process("BACKTEST_CLIENT_CONCURRENCY", **env)


def test_the_client_share_defaults_to_half_the_limit_and_at_least_one():
    assert _share_in_a_fresh_process() == "4"
    assert _share_in_a_fresh_process(BACKTEST_MAX_CONCURRENT_RUNS="1") == "1"
    assert _share_in_a_fresh_process(BACKTEST_CLIENT_CONCURRENCY="3") == "3"


# --- manage.py api_token -----------------------------------------------------------------


def api_token(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_api_token_create_prints_the_token_alone_on_its_last_line_and_revoke_ends_it(coin, users):
    out, err = api_token("create", "alice")
    key = out.strip().splitlines()[-1]
    assert out.strip() == key and len(key) == 40  # alone
    assert Token.objects.get(user=users["alice"]).key == key and "alice" in err
    assert create(browser(), Authorization=f"Token {key}").status_code == 201

    again, _ = api_token("create", "alice")  # replaces: the old token stops working
    new_key = again.strip().splitlines()[-1]
    assert new_key != key
    assert create(browser(), Authorization=f"Token {key}").status_code == 401
    assert create(browser(), Authorization=f"Token {new_key}").status_code == 201

    _, err = api_token("revoke", "alice")
    assert "Revoked" in err and not Token.objects.filter(user=users["alice"]).exists()
    assert create(browser(), Authorization=f"Token {new_key}").status_code == 401


def test_api_token_for_an_unknown_user_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No user 'nobody'"):
        api_token("create", "nobody")
    with pytest.raises(CommandError, match="No user 'nobody'"):
        api_token("revoke", "nobody")
    assert Token.objects.count() == 0


def test_the_admin_login_form_works_with_the_csrf_token_in_the_session(users):
    client = browser()
    page = client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    assert "csrftoken" not in page.cookies  # the secret is in the session, not a cookie
    form = {"username": "staff", "password": "pw-staff-123", "next": "/admin/"}
    assert client.post("/admin/login/", form).status_code == 403  # no token: refused
    logged_in = client.post("/admin/login/", {**form, "csrfmiddlewaretoken": token})
    assert logged_in.status_code == 302 and logged_in["Location"] == "/admin/"
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 403  # staff, but without the permission
    admin = browser()
    admin.force_login(get_user_model().objects.create_superuser("root", password="pw-root-123"))
    assert admin.get("/admin/authtoken/tokenproxy/add/").status_code == 200  # tokens are made in the admin too
