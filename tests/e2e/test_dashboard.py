"""The built-in dashboard in a real Chromium against a real ``salescope serve``."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

import httpx
import pytest

from tests.e2e.test_robot import Server

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHARTS = ["revenue", "categories", "rfm", "forecast", "churn-distribution", "churn-factors"]
KPIS = """
{ kpis { totalCustomers totalRevenue averageLifetimeValue averageOrderValue retentionRate } }
"""
UPLOAD_CSV = (
    "InvoiceNo,InvoiceDate,CustomerID,StockCode,Quantity,UnitPrice\n"
    "I1,2024-01-05,C1,SKU1,2,3.50\n"
    "I2,2024-02-11,C2,SKU2,1,10.00\n"
    "I3,2024-03-17,C1,SKU1,4,3.50\n"
)
TIMEOUT_MS = 30_000


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser test")
    pytest.skip(reason)


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"Chromium is not installed at {CHROMIUM}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM)
        yield chromium
        chromium.close()


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "server")
    running.data_dir.mkdir()
    subprocess.run(
        [running.executable, "demo", "--customers", "300"],  # type: ignore[list-item]
        env=running.env,
        check=True,
        capture_output=True,
    )
    running.start()
    yield running
    running.stop()


def _money(value: float | None) -> str:
    """The page's formatting: en-US grouping, two decimals, half away from zero."""
    if value is None:
        return "—"
    return f"{Decimal(value).quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


def _percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{Decimal(value).quantize(Decimal('0.1'), ROUND_HALF_UP):,}%"


def test_dashboard_shows_the_api_numbers_uploads_and_answers(
    browser: Any, demo_server: Server, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    # It must work offline: every asset and call goes to salescope itself.
    foreign: list[str] = []

    def check_origin(request: Any) -> None:
        if not request.url.startswith((demo_server.url, "data:")):
            foreign.append(request.url)

    page.on("request", check_origin)
    page.set_default_timeout(TIMEOUT_MS)

    page.goto(f"{demo_server.url}/dashboard")

    chart_selector = ", ".join(f'[data-chart="{name}"] .main-svg' for name in CHARTS)
    page.wait_for_function(
        """([selector, count]) =>
            new Set([...document.querySelectorAll(selector)].map((svg) => svg.closest('.chart')))
              .size === count && !document.querySelector('[aria-busy="true"]')""",
        arg=[chart_selector, len(CHARTS)],
    )
    assert page.inner_text("#messages").strip() == ""
    for name in CHARTS:
        drawn = page.eval_on_selector(
            f'[data-chart="{name}"]',
            "chart => [...chart.querySelectorAll('.main-svg')].some(svg => svg.childElementCount)",
        )
        assert drawn, f"the {name} chart drew nothing"
    assert page.locator("#top-customers tbody tr").count() == 10

    response = httpx.post(f"{demo_server.url}/graphql", json={"query": KPIS}, timeout=30)
    kpis = response.json()["data"]["kpis"]
    shown = {
        name: page.inner_text(f'[data-testid="kpi-{name}"] .kpi-value')
        for name in ("customers", "revenue", "lifetime-value", "aov", "retention")
    }
    assert shown == {
        "customers": f"{kpis['totalCustomers']:,}",
        "revenue": _money(kpis["totalRevenue"]),
        "lifetime-value": _money(kpis["averageLifetimeValue"]),
        "aov": _money(kpis["averageOrderValue"]),
        "retention": _percent(kpis["retentionRate"]),
    }

    csv_path = tmp_path / "orders.csv"
    csv_path.write_text(UPLOAD_CSV)
    page.set_input_files("#file-input", str(csv_path))
    progress = page.locator('[data-testid="upload-progress"][data-status="COMPLETED"]')
    progress.wait_for()
    assert progress.get_attribute("aria-valuenow") == "100"
    assert page.get_attribute("#upload-status", "data-transport") == "websocket"
    assert "Imported 3 of 3 rows" in page.inner_text("#upload-result")
    page.wait_for_function("document.querySelectorAll('#dataset-select option').length === 2")

    page.fill("#ask-input", "What was the total revenue?")
    page.click("#ask-submit")
    page.locator("#ask-result:not([hidden])").wait_for()
    assert shown["revenue"] in page.inner_text("#ask-answer")
    tools = page.locator('[data-testid="ask-tool"]')
    assert tools.count() >= 1
    assert "get_kpis" in tools.first.inner_text()

    assert page.inner_text("#messages").strip() == ""
    assert page_errors == []
    assert foreign == []
    page.wait_for_timeout(300)  # the progress bar's transition
    screenshot = tmp_path / "dashboard.png"
    page.screenshot(path=str(screenshot), full_page=True)
    if target := os.environ.get("SALESCOPE_SCREENSHOT"):
        shutil.copyfile(screenshot, target)

    # On a phone the page reflows to one column: nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("document.documentElement.scrollWidth <= 390", timeout=5_000)


def test_graphiql_works_with_the_internet_cut_off(browser: Any, demo_server: Server) -> None:
    context = browser.new_context()
    blocked: list[str] = []

    def only_salescope(route: Any) -> None:
        if route.request.url.startswith(demo_server.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_salescope)
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.set_default_timeout(TIMEOUT_MS)
    query = "{ kpis { totalCustomers } }"

    page.goto(f"{demo_server.url}/graphql?q={quote(query)}", wait_until="networkidle")
    page.wait_for_selector(".graphiql-container")
    page.click(".graphiql-execute-button")
    page.wait_for_function(
        "() => document.querySelector('.result-window')?.innerText.includes('totalCustomers')"
    )

    assert '"totalCustomers": 300' in page.inner_text(".result-window")
    assert blocked == []
    assert page_errors == []
    context.close()
