"""Start ``salescope serve`` as a real process and talk to it over HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("serve")
    port = _free_port()
    executable = shutil.which("salescope", path=str(Path(sys.executable).parent))
    assert executable, "the salescope console script is not installed"
    env = {
        **os.environ,
        "SALESCOPE_DATA_DIR": str(data_dir),
        "SALESCOPE_DEMO_CUSTOMERS": "300",
    }
    env.pop("SALESCOPE_DATABASE_URL", None)
    log = (data_dir / "stdout.log").open("wb")
    process = subprocess.Popen(
        [executable, "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited: {(data_dir / 'stdout.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not become healthy within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def test_serves_demo_data_over_graphql(server_url: str) -> None:
    query = """
    { datasets { id name version }
      kpis { totalCustomers totalRevenue orderCount averageOrderValue retentionRate }
      revenueSeries(granularity: QUARTER) { points { periodStart revenue } figure } }
    """
    response = httpx.post(f"{server_url}/graphql", json={"query": query}, timeout=30)

    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    data = body["data"]
    assert data["datasets"][0]["id"] == "demo"
    kpis = data["kpis"]
    assert kpis["totalCustomers"] == 300
    assert kpis["orderCount"] > 300
    assert kpis["averageOrderValue"] == pytest.approx(kpis["totalRevenue"] / kpis["orderCount"])
    series_total = sum(p["revenue"] for p in data["revenueSeries"]["points"])
    assert series_total == pytest.approx(kpis["totalRevenue"])
    assert data["revenueSeries"]["figure"]["data"]


def test_writes_json_logs_with_request_ids(
    server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    response = httpx.get(f"{server_url}/health", headers={"X-Request-ID": "e2e-probe"})
    assert response.headers["x-request-id"] == "e2e-probe"
    log_files = list(tmp_path_factory.getbasetemp().glob("serve*/logs/salescope.log"))
    assert log_files
    deadline = time.monotonic() + 5
    while '"request_id": "e2e-probe"' not in log_files[0].read_text():
        assert time.monotonic() < deadline, "request not logged"
        time.sleep(0.1)


EVERYDAY_QUESTIONS = [
    "What was revenue in March?",
    "Who are our top 5 customers?",
    "Which sales rep closed the most deals?",
    "How many customers are at risk of churning?",
    "What's our AOV this year vs last year?",
    "How are the product categories doing?",
    "What are the best selling products?",
    "Show me the RFM segments",
    "What will revenue be over the next 3 months?",
    "What is the predicted customer lifetime value?",
    "How satisfied are our customers?",
    "What is our retention rate?",
]

ASK = """
mutation Ask($q: String!) {
  askAI(question: $q) {
    answer provider confident toolCalls { name arguments result } usage { totalTokens } costUsd
  }
}
"""


def test_everyday_questions_get_sourced_answers_without_a_key(server_url: str) -> None:
    for question in EVERYDAY_QUESTIONS:
        response = httpx.post(
            f"{server_url}/graphql",
            json={"query": ASK, "variables": {"q": question}},
            timeout=120,
        )
        body = response.json()
        assert "errors" not in body, (question, body)
        answer = body["data"]["askAI"]
        assert answer["provider"] == "local"
        assert answer["confident"] is True, (question, answer["answer"])
        assert answer["toolCalls"], question
        assert "Source:" in answer["answer"]
        assert answer["usage"] is None or answer["usage"]["totalTokens"] is None
        assert answer["costUsd"] == 0


def test_an_answer_carries_the_numbers_kpis_serves(server_url: str) -> None:
    ask = httpx.post(
        f"{server_url}/graphql",
        json={"query": ASK, "variables": {"q": "What was our total revenue this year?"}},
        timeout=60,
    ).json()["data"]["askAI"]
    call = ask["toolCalls"][0]
    assert call["name"] == "get_kpis"
    period = {"start": call["arguments"]["start"], "end": call["arguments"]["end"]}
    kpis = httpx.post(
        f"{server_url}/graphql",
        json={
            "query": "query K($p: DateRange) { kpis(period: $p) { totalRevenue } }",
            "variables": {"p": period},
        },
        timeout=60,
    ).json()["data"]["kpis"]
    assert call["result"]["total_revenue"] == round(kpis["totalRevenue"], 2)
    assert f"{kpis['totalRevenue']:,.2f}" in ask["answer"]
