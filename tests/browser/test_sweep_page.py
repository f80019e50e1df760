"""The sweep pages in a real browser, against the real API and event stream under uvicorn.

Data (see conftest): the seeded strategies, three demo coins with the hourly bars of 2024 and a
ten-bar coin that no strategy can run (its cells' metrics are empty and left out of the aggregates).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from rest_framework.test import APIClient

from runs.models import BacktestRun
from strategies.models import StrategyParameter
from sweeps.models import Sweep, SweepCell

from .conftest import XSS_NAME
from .pages import BROWSER

pytestmark = BROWSER

SWEEP_TIMEOUT = 60_000
SHOTS = Path("/tmp/shots-sweeps")
MA = {"strategy_id": None, "start_date": "2024-01-01", "end_date": "2024-12-31"}


def pct(value: float) -> str:
    return f"{'+' if value > 0 else ''}{value:,.2f}%"


def wait_finished(sweep_id, timeout: float = 60.0) -> Sweep:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sweep = Sweep.objects.get(id=sweep_id)
        if sweep.finished_at is not None:
            return sweep
        time.sleep(0.05)
    raise AssertionError("the sweep did not finish")


def create(body: dict) -> dict:
    """A sweep started through the API (the page's own form is covered by the first test)."""
    response = APIClient().post("/api/sweeps/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def open_as_owner(page: Page, url: str, created: dict) -> None:
    """Open the sweep's page in a browser holding its cancel token, as the page that created it
    would (static/app/api.js): the token is in localStorage before the page's scripts read the sweep."""
    key, token = json.dumps(f"bt-cancel-token:{created['id']}"), json.dumps(created["cancel_token"])
    page.add_init_script(f"localStorage.setItem({key}, {token})")
    page.goto(url)


def heatmap_click(page: Page, x_index: int, y_index: int, x_count: int, y_count: int) -> None:
    """Click the centre of heatmap cell (x, y): the page's grid leaves 64 px left, 16 right, 16 top
    and 108 below (the colour scale); ECharts puts the first y category at the bottom."""
    page.locator("#heatmap").scroll_into_view_if_needed()
    box = page.locator("#heatmap").bounding_box()
    width, height = box["width"] - 64 - 16, box["height"] - 16 - 108
    x = box["x"] + 64 + (x_index + 0.5) * width / x_count
    y = box["y"] + 16 + (y_count - y_index - 0.5) * height / y_count
    page.mouse.click(x, y)


COLOURS = {"low": (0xD7, 0x30, 0x27), "high": (0x1A, 0x98, 0x50)}  # sweep_page.js COLOURS, the two ends


def heatmap_colour(page: Page, x_index: int, y_index: int, x_count: int, y_count: int) -> tuple[int, int, int]:
    """The colour ECharts painted at the centre of heatmap cell (x, y) (the geometry of heatmap_click):
    the topmost layer's pixel there that is not transparent (ECharts draws on several canvases)."""
    return tuple(
        page.evaluate(
            """([x, y, nx, ny]) => {
                let colour = null;
                for (const canvas of document.querySelectorAll("#heatmap canvas")) {
                    const box = canvas.getBoundingClientRect();
                    const scale = canvas.width / box.width;
                    const px = 64 + (x + 0.5) * (box.width - 80) / nx;
                    const py = 16 + (ny - y - 0.5) * (box.height - 124) / ny;
                    const context = canvas.getContext("2d");
                    const pixel = context.getImageData(Math.round(px * scale), Math.round(py * scale), 1, 1).data;
                    if (pixel[3] > 0) colour = [...pixel.slice(0, 3)];
                }
                return colour;
            }""",
            [x_index, y_index, x_count, y_count],
        )
    )


def assert_colour(page: Page, cell, expected: tuple[int, int, int], x_count: int, y_count: int) -> None:
    deadline = time.monotonic() + 5
    while True:
        got = heatmap_colour(page, cell.coordinate[0], cell.coordinate[1], x_count, y_count)
        if all(abs(a - b) <= 3 for a, b in zip(got, expected, strict=True)) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(100)  # (a first draw may still be fading in)
    assert all(abs(a - b) <= 3 for a, b in zip(got, expected, strict=True)), (cell.n, got, expected)


def test_a_sweep_from_the_form_fills_the_heatmap_opens_a_cell_and_a_run_and_reopens(
    asgi_server, market, open_page, browser_errors
):
    SHOTS.mkdir(exist_ok=True)
    base = asgi_server.url
    page = open_page(viewport={"width": 1440, "height": 1000})
    page.goto(f"{base}/")
    page.get_by_role("link", name="Sweep", exact=True).click()  # the nav's way to the sweep form
    expect(page).to_have_url(f"{base}/sweeps/new")
    form = page.locator("#sweep-form")
    expect(form).to_have_attribute("data-ready", "true")

    # The form is generated from the strategy's definitions; sweep fast over a range, slow over a list.
    page.get_by_label("Strategy", exact=True).select_option(label="Moving Average Crossover")
    expect(page.get_by_label("How Fast MA period is set")).to_have_value("range")
    page.get_by_label("Fast MA period from").fill("5")
    page.get_by_label("Fast MA period to").fill("20")
    page.get_by_label("Fast MA period step").fill("5")
    page.get_by_label("How Slow MA period is set").select_option("list")
    page.get_by_label("Slow MA period: values, comma separated").fill("20, 40")
    expect(page.get_by_label("How Stop-loss (%) is set")).to_have_value("fixed")
    page.get_by_label("Stop-loss (%)", exact=True).fill("8")
    # Live counts: fast 5, 10, 15, 20 x slow 20, 40, less fast 20 >= slow 20.
    expect(page.locator("#preview")).to_have_attribute("data-cells", "7")
    expect(page.locator("#preview")).to_have_attribute("data-skipped", "1")
    expect(page.locator("#preview-coins")).to_have_text("4")

    # A bad value is refused next to its field before anything starts, and Start waits for a fix.
    browser_errors.expect(r"status of 400")
    page.get_by_label("Fast MA period from").fill("0")
    expect(page.locator("#grid-fast_ma_period-error")).to_contain_text(">= 1")
    expect(page.get_by_role("button", name="Start sweep")).to_be_disabled()
    page.get_by_label("Fast MA period from").fill("5")
    expect(page.locator("#preview")).to_have_attribute("data-cells", "7")
    page.get_by_label("Out-of-sample from (optional)").fill("2024-10-01")
    page.get_by_label("Fee per fill (%)").fill("0.1")
    page.get_by_label("Fills").select_option("next_open")
    expect(page.get_by_role("button", name="Start sweep")).to_be_enabled()
    page.screenshot(path=str(SHOTS / "sweep-new-1440.png"), full_page=True)
    for width, height in ((1024, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(200)
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        page.screenshot(path=str(SHOTS / f"sweep-new-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.get_by_role("button", name="Start sweep").click()

    # The sweep page: the heatmap fills as the cells arrive, then the summary and the top cells.
    page.wait_for_url(re.compile(r"/sweeps/[0-9a-f-]{36}/$"), timeout=SWEEP_TIMEOUT)
    sweep = wait_finished(Sweep.objects.get().id)
    assert page.url == f"{base}/sweeps/{sweep.id}/"
    assert sweep.status == "completed" and sweep.total == 7 and sweep.skipped == 1
    assert sweep.fixed == {"stop_loss_threshold": 8.0} and sweep.fee_pct == 0.1 and sweep.fill == "next_open"
    assert sweep.test_start.date().isoformat() == "2024-10-01"
    heatmap = page.locator("#heatmap")
    expect(heatmap).to_have_attribute("data-count", "7", timeout=SWEEP_TIMEOUT)
    expect(heatmap).to_have_attribute("data-kind", "heatmap")
    assert heatmap.locator("canvas").count() >= 1
    expect(page.locator("#sweep-status")).to_have_text("completed")
    expect(page.locator("#progress-text")).to_contain_text("7 / 7 cells · 100% · 1 skipped")
    # Coloured by the metric (the objective, across coins): its lowest cell at the scale's low end,
    # its highest at the high end, whatever their numbers.
    by_value = sorted(SweepCell.objects.filter(sweep=sweep), key=lambda c: c.aggregates[sweep.objective])
    assert_colour(page, by_value[0], COLOURS["low"], 4, 2)
    assert_colour(page, by_value[-1], COLOURS["high"], 4, 2)
    expect(page.locator("#cells-body tr")).to_have_count(7)
    best = sweep.summary["best"]
    first_row = page.locator("#cells-body tr").first
    expect(first_row).to_have_attribute("data-n", str(best["n"]))  # sorted by the objective, best first
    dsr = sweep.summary["deflated_sharpe"]
    expect(page.locator("#dsr")).to_contain_text(f"{dsr['probability'] * 100:,.1f}%")
    expect(page.locator("#dsr")).to_contain_text("the best that 7 cells tried would reach by luck")

    # A click on the best cell of the heatmap shows its coins, train and test side by side.
    cell = SweepCell.objects.get(sweep=sweep, n=best["n"])
    heatmap_click(page, cell.coordinate[0], cell.coordinate[1], 4, 2)
    panel = page.locator("#cell-panel")
    expect(panel).to_have_attribute("data-n", str(best["n"]))
    expect(panel).to_have_attribute("data-loaded", "true")
    detail = page.request.get(f"{base}/api/sweeps/{sweep.id}/cells/{best['n']}/").json()
    expect(page.locator("#coins-body tr")).to_have_count(4)
    expect(page.locator("#coins-head")).to_contain_text("Total return (test)")
    btc = next(c for c in detail["coins"] if c["crypto_symbol"] == "BTC")
    expect(page.locator('#coins-body tr[data-symbol="BTC"] td').first).to_have_text(pct(btc["train"]["total_return"]))

    # The coin picker: one coin's own values for every cell (fetched per cell, lazily).
    page.get_by_label("Coin", exact=True).select_option("BTC")
    expect(page.locator("#map-note")).to_have_text("")
    expect(heatmap).to_have_attribute("data-count", "7")
    expect(heatmap).to_have_attribute("aria-label", "Heatmap of Avg Sharpe · BTC over 7 cells")
    page.get_by_label("Metric").select_option("avg_total_return")
    page.get_by_label("Window").select_option("test")
    expect(heatmap).to_have_attribute("aria-label", "Heatmap of Avg return · BTC · test over 7 cells")

    page.wait_for_timeout(400)
    page.screenshot(path=str(SHOTS / "sweep-1440.png"), full_page=True)
    for width, height in ((1024, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(400)
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        page.screenshot(path=str(SHOTS / f"sweep-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1440, "height": 1000})

    # The top cells sorted on the test window: the best out-of-sample cell first.
    objective = sweep.objective
    by_test = sorted(SweepCell.objects.filter(sweep=sweep), key=lambda c: (-c.test_aggregates[objective], c.n))
    page.get_by_label("on", exact=True).select_option("test")
    expect(page.locator("#cells-body tr").first).to_have_attribute("data-n", str(by_test[0].n))
    page.get_by_label("on", exact=True).select_option("train")
    expect(page.locator("#cells-body tr").first).to_have_attribute("data-n", str(best["n"]))

    # From the keyboard: the table's button opens a cell as well.
    other = page.locator("#cells-body tr").nth(1)
    other.get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(panel).to_have_attribute("data-n", other.get_attribute("data-n"))
    expect(panel).to_have_attribute("data-loaded", "true")
    heatmap_click(page, cell.coordinate[0], cell.coordinate[1], 4, 2)
    expect(panel).to_have_attribute("data-n", str(best["n"]))
    expect(panel).to_have_attribute("data-loaded", "true")

    # "Open as run": an ordinary stored run with the cell's parameters and the sweep's options.
    page.get_by_role("button", name="Open as run").click()
    expect(page.locator("#run-status")).to_have_text(
        "Completed", timeout=SWEEP_TIMEOUT
    )  # the status label of page_facts
    run = BacktestRun.objects.get()
    assert page.url.split("?")[0] == f"{base}/runs/{run.id}/"  # the run page keeps its sort in the query
    assert run.parameters == detail["all_parameters"] == cell.parameters
    assert (run.fee_pct, run.fill, run.stop_mode, run.slippage_pct, run.interval) == (
        0.1,
        "next_open",
        "close",
        0,
        "1h",
    )
    assert (run.start_date, run.end_date, run.symbols) == (sweep.start_date, sweep.end_date, sweep.symbols)
    # (the run covers the whole window; with a split, the cell's train metrics stop before it)

    # /sweeps/ lists the sweep; it reopens from the stored cells and summary.
    page.goto(f"{base}/sweeps/")
    listed = page.locator(f'#sweeps-body tr[data-sweep-id="{sweep.id}"]')
    expect(listed).to_contain_text("Moving Average Crossover")
    expect(listed).to_contain_text("completed")
    expect(listed).to_contain_text("7 / 7 (+1 skipped)")
    expect(listed).to_contain_text("Fast MA period 5 … 20 (4) × Slow MA period 20, 40 (2)")
    expect(listed.locator(".best-objective")).to_have_text(f"{best['objective']:,.2f}")
    page.screenshot(path=str(SHOTS / "sweeps-list-1440.png"), full_page=True)
    listed.get_by_role("link").click()
    expect(page.locator("#sweep-page")).to_have_attribute("data-ready", "true")
    expect(page.locator("#heatmap")).to_have_attribute("data-count", "7")
    expect(page.locator("#cells-body tr")).to_have_count(7)
    expect(page.locator("#dsr")).to_be_visible()


def test_start_shows_the_sweep_in_place_and_back_returns_to_the_form(asgi_server, market, page, strategies):
    """Start mounts the sweep's view where the form was, without loading a page (what lets the first
    cell be drawn as soon as it is computed), under the sweep's own address; Back is the form again
    and Forward the sweep's page, loaded from the server."""
    base = asgi_server.url
    new_url = f"{base}/sweeps/new?strategy={strategies['ma_crossover']}"
    page.goto(new_url)
    expect(page.locator("#sweep-form")).to_have_attribute("data-ready", "true")
    expect(page.get_by_role("button", name="Start sweep")).to_be_enabled()
    expect(page.locator("#nav-sweep")).to_have_attribute("aria-current", "page")
    # the sweep's view, imported (ECharts with it) and warmed while the form is edited
    expect(page.locator("#sweep-form")).to_have_attribute("data-view-ready", "true")
    page.evaluate("window.beforeStart = 'this document'")
    page.get_by_role("button", name="Start sweep").click()

    page.wait_for_url(re.compile(r"/sweeps/[0-9a-f-]{36}/$"), timeout=SWEEP_TIMEOUT)
    sweep = wait_finished(Sweep.objects.get().id)
    assert page.url == f"{base}/sweeps/{sweep.id}/"
    heatmap = page.locator("#heatmap")
    expect(page.locator("#sweep-status")).to_have_text("completed", timeout=SWEEP_TIMEOUT)
    expect(heatmap).to_have_attribute("data-count", str(sweep.total))
    assert sweep.total > 1
    assert page.evaluate("window.beforeStart") == "this document"  # no page was loaded
    expect(page.locator("#sweep-form")).to_have_count(0)
    expect(page.locator("#nav-sweeps")).to_have_attribute("aria-current", "page")
    expect(page.locator("#nav-sweep")).not_to_have_attribute("aria-current", "page")
    assert page.evaluate("performance.getEntriesByName('sweep-first-cell').length") == 1
    expect(page.locator("#cells-body tr")).to_have_count(min(sweep.total, 25))

    # Elsewhere and back: the sweep's page (loaded anew, as the address says); back again, the form.
    page.goto(f"{base}/runs/")
    expect(page.locator("#runs-page")).to_have_attribute("data-ready", "true")
    page.go_back()
    expect(page).to_have_url(f"{base}/sweeps/{sweep.id}/")
    expect(page.locator("#sweep-page")).to_have_attribute("data-ready", "true")
    page.go_back()
    expect(page).to_have_url(new_url)
    expect(page.locator("#sweep-form")).to_have_attribute("data-ready", "true")
    expect(page.locator("#sweep-page")).to_have_count(0)
    page.go_forward()
    expect(page).to_have_url(f"{base}/sweeps/{sweep.id}/")
    expect(page.locator("#sweep-page")).to_have_attribute("data-ready", "true")
    expect(heatmap).to_have_attribute("data-count", str(sweep.total))
    assert page.evaluate("window.beforeStart === undefined")  # the sweep's page, loaded anew


def test_three_swept_parameters_pick_axes_fix_the_third_and_walk_forward(asgi_server, market, page, strategies):
    """More than two swept parameters: x and y are chosen, the others are the best over them or fixed
    with a slider; with walk-forward, the fold table and the stitched out-of-sample curve."""
    body = {
        **MA,
        "strategy_id": strategies["ma_crossover"],
        "grid": {"fast_ma_period": [5, 10, 30], "slow_ma_period": [20, 40], "stop_loss_threshold": [5, 10]},
        "walk_forward": {"folds": 2, "mode": "anchored"},
    }
    created = create(body)
    sweep = wait_finished(created["id"])
    # 3 x 2 x 2, less fast 30 >= slow 20 (two stop-losses)
    assert (sweep.total, sweep.skipped) == (10, 2)
    page.goto(f"{asgi_server.url}{created['page_url']}")
    heatmap = page.locator("#heatmap")
    cells = list(SweepCell.objects.filter(sweep=sweep).order_by("n"))
    expect(page.locator("#sweep-page")).to_have_attribute("data-ready", "true")
    expect(page.locator("#sweep-owner-note")).to_be_hidden()  # someone else's, but finished: nothing to control

    def shown(*, fixed: dict | None = None, pair=("fast_ma_period", "slow_ma_period")) -> str:
        """The cells the heatmap should draw: per (x, y) pair the best objective, or the slice."""
        best: dict = {}
        for c in cells:
            if fixed and any(c.parameters[k] != v for k, v in fixed.items()):
                continue
            key = tuple(c.parameters[p] for p in pair)
            if key not in best or c.objective > best[key].objective:
                best[key] = c
        return ",".join(str(n) for n in sorted(c.n for c in best.values()))

    expect(heatmap).to_have_attribute("data-count", "5")  # (fast, slow) pairs, best over the stop-loss
    expect(heatmap).to_have_attribute("data-shown", shown())
    expect(page.locator("#sliders input[type=range]")).to_have_count(1)
    slider = page.get_by_label("Stop-loss (%)", exact=True)
    expect(slider).to_be_disabled()
    page.get_by_label("fixed at").check()
    expect(slider).to_be_enabled()
    slider.focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#slider-2-value")).to_have_text("10")
    expect(heatmap).to_have_attribute("data-shown", shown(fixed={"stop_loss_threshold": 10}))
    page.keyboard.press("ArrowLeft")
    expect(heatmap).to_have_attribute("data-shown", shown(fixed={"stop_loss_threshold": 5}))
    # Stop-loss on x, fast on y: 2 x 3 categories, best over slow.
    page.get_by_label("X axis").select_option(label="Stop-loss (%)")
    page.get_by_label("Y axis").select_option(label="Fast MA period")
    expect(page.get_by_label("Slow MA period", exact=True)).to_be_visible()
    page.get_by_label("best over them").check()
    expect(heatmap).to_have_attribute("data-count", "6")
    expect(heatmap).to_have_attribute("data-shown", shown(pair=("stop_loss_threshold", "fast_ma_period")))
    wf = sweep.summary["walk_forward"]
    expect(page.locator("#wf-panel")).to_be_visible()
    # The tooltip is HTML to ECharts: a parameter's display name (from the admin) is shown as text.
    StrategyParameter.objects.filter(strategy_id=strategies["ma_crossover"], parameter_name="fast_ma_period").update(
        display_name=XSS_NAME
    )
    page.reload()
    expect(heatmap).to_have_attribute("data-count", "5")
    box = heatmap.bounding_box()
    page.mouse.move(box["x"] + 64 + (box["width"] - 80) / 6, box["y"] + 16 + (box["height"] - 124) * 3 / 4)
    tooltip = heatmap.locator("div").filter(has_text="cell #").last
    expect(tooltip).to_contain_text(f"{XSS_NAME} 5")
    assert heatmap.locator("img").count() == 0
    expect(page.locator("#folds-body tr")).to_have_count(2)
    expect(page.locator("#wf-chart")).to_have_attribute("data-points", str(len(wf["average"]["times"])))
    expect(page.locator("#wf-chart")).to_have_attribute("data-coin", "")
    # One coin's own stitched curve, picked by name, drawn beside the average (the API keys them by coin id).
    crypto_id, symbol, name = sweep.coins[1]
    page.get_by_label("Show").select_option(label=f"{symbol} · {name}")
    expect(page.locator("#wf-chart")).to_have_attribute("data-coin", symbol)
    own = wf["coins"][str(crypto_id)]
    expect(page.locator("#wf-chart")).to_have_attribute("data-coin-points", str(len(own["times"])))
    assert float(page.locator("#wf-chart").get_attribute("data-last")) == own["values"][-1]
    page.get_by_label("Show").select_option(label="Average of the coins")
    expect(page.locator("#wf-chart")).to_have_attribute("data-coin", "")


def test_one_swept_parameter_is_a_line_chart(asgi_server, market, page, strategies):
    body = {**MA, "strategy_id": strategies["ma_crossover"], "grid": {"fast_ma_period": [3, 5, 8, 12]}}
    created = create(body)
    wait_finished(created["id"])
    page.goto(f"{asgi_server.url}{created['page_url']}")
    expect(page.locator("#heatmap")).to_have_attribute("data-kind", "line")
    expect(page.locator("#heatmap")).to_have_attribute("data-count", "4")
    expect(page.locator("#x-field")).to_be_hidden()


@pytest.fixture
def strategies(market):
    from strategies.models import Strategy

    return dict(Strategy.objects.values_list("key", "id"))


@pytest.fixture
def chunk_gate(asgi_server, job_hook):
    """Sweep chunks other than the one holding cell 0 wait until the test opens the gate."""
    import threading

    gate = threading.Event()
    job_hook(lambda cell_numbers: None if 0 in cell_numbers else gate.wait(30))
    yield gate
    gate.set()


def test_a_running_sweep_fills_live_and_an_interrupted_one_resumes(asgi_server, market, page, strategies, chunk_gate):
    from runs import services as run_services

    body = {
        **MA,
        "strategy_id": strategies["ma_crossover"],
        "grid": {"fast_ma_period": {"from": 2, "to": 13, "step": 1}},
    }
    created = create(body)
    deadline = time.monotonic() + 30
    while not (first := Sweep.objects.get(id=created["id"]).completed):  # the chunk holding cell 0
        assert time.monotonic() < deadline, "the first chunk did not finish"
        time.sleep(0.05)
    open_as_owner(page, f"{asgi_server.url}{created['page_url']}", created)
    heatmap = page.locator("#heatmap")
    expect(heatmap).to_have_attribute("data-kind", "line")
    expect(heatmap).to_have_attribute("data-count", str(first))  # the first chunk only: the others wait
    expect(page.locator("#sweep-status")).to_have_text("running")
    expect(page.get_by_role("button", name="Cancel sweep")).to_be_visible()
    expect(page.locator("#progress-text")).to_contain_text(f"{first} / 12 cells")

    # The server stops: the sweep is interrupted; reopened, it offers to resume.
    run_services.batches_interrupt(batch_ids=[created["id"]])
    page.reload()
    expect(page.locator("#sweep-status")).to_have_text("interrupted")
    expect(page.locator("#sweep-message")).to_contain_text("Resume runs only its missing cells")
    expect(heatmap).to_have_attribute("data-count", str(first))
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#sweep-status")).to_have_text("running")
    chunk_gate.set()
    # The rest arrives through the event stream (the page's own poll of the sweep is 15 s away).
    expect(heatmap).to_have_attribute("data-count", "12", timeout=10_000)
    expect(page.locator("#sweep-status")).to_have_text("completed", timeout=10_000)
    expect(page.get_by_role("button", name="Resume")).to_be_hidden()
    sweep = Sweep.objects.get(id=created["id"])
    assert sweep.status == "completed" and sweep.completed == 12
    expect(page.locator("#cells-body tr").first).to_have_attribute("data-n", str(sweep.summary["best"]["n"]))


def test_cancel_stops_a_running_sweep_from_its_page(asgi_server, market, page, strategies, chunk_gate):
    body = {
        **MA,
        "strategy_id": strategies["ma_crossover"],
        "grid": {"fast_ma_period": {"from": 2, "to": 13, "step": 1}},
    }
    created = create(body)
    # Someone else's browser: no Cancel, and a note saying whose it is.
    other = page.context.browser.new_page()
    other.goto(f"{asgi_server.url}{created['page_url']}")
    expect(other.locator("#sweep-status")).to_have_text("running")
    expect(other.locator("#sweep-owner-note")).to_be_visible()
    expect(other.get_by_role("button", name="Cancel sweep")).to_be_hidden()
    other.close()
    open_as_owner(page, f"{asgi_server.url}{created['page_url']}", created)
    expect(page.locator("#sweep-status")).to_have_text("running")
    expect(page.locator("#sweep-owner-note")).to_be_hidden()
    page.get_by_role("button", name="Cancel sweep").click()
    expect(page.locator("#sweep-status")).to_have_text("cancelled")
    chunk_gate.set()  # the waiting chunks find the sweep cancelled and count their cells as such
    sweep = wait_finished(created["id"])
    assert sweep.status == "cancelled" and sweep.cancelled_cells > 0
    assert sweep.completed + sweep.cancelled_cells == 12
    expect(page.get_by_role("button", name="Cancel sweep")).to_be_hidden()
    expect(page.locator("#heatmap")).to_have_attribute("data-count", str(sweep.completed), timeout=10_000)
