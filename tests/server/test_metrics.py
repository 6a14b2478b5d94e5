from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from analytics.access import create_api_key
from analytics.audit import list_audit
from server.app import create_app
from server.metrics import MAX_OPERATION_NAMES, MULTIPROCESS_ENV, Metrics
from server.settings import Settings
from tests.ask_stub import OpenAIStub, completion, tool_call

DASHBOARD_QUERY = "query Dashboard { kpis { totalRevenue orderCount } }"
BAD_PERIOD_QUERY = '{ kpis(period: {start: "2024-02-01", end: "2024-01-01"}) { orderCount } }'
RUN_ANALYSIS = 'mutation Run { runAnalysis(dataset: "tiny") { id } }'
ASK_AI = 'mutation Ask { askAI(question: "total revenue") { answer provider } }'
REPO = Path(__file__).resolve().parents[2]

HTTP_REQUESTS = "salescope_http_requests_total"
HTTP_ERRORS = "salescope_http_error_responses_total"
HTTP_TIMED = "salescope_http_request_duration_seconds_count"
OPERATIONS = "salescope_graphql_operations_total"
OPERATIONS_TIMED = "salescope_graphql_operation_duration_seconds_count"
GRAPHQL_ERRORS = "salescope_graphql_errors_total"
CACHE_LOOKUPS = "salescope_cache_lookups_total"
JOBS = "salescope_analysis_jobs_total"
JOBS_TIMED = "salescope_analysis_job_duration_seconds_count"
JOB_SECONDS = "salescope_analysis_job_duration_seconds_sum"
ASK_QUESTIONS = "salescope_askai_questions_total"
ASK_TIMED = "salescope_askai_duration_seconds_count"
ASK_TOKENS = "salescope_askai_tokens_total"
ASK_COST = "salescope_askai_cost_usd_total"
RATE_LIMITED = "salescope_rate_limited_requests_total"


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "default_dataset": "tiny",
        "rate_limit_enabled": False,
    }
    return Settings(**{**values, **overrides})


@pytest.fixture
def client(tiny_dataset: Engine, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path), engine=tiny_dataset)) as test_client:
        yield test_client


def samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def scrape(client: TestClient, headers: dict[str, str] | None = None) -> list[Sample]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return samples(response.text)


def value(found: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(
        sample.value
        for sample in found
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def graphql(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_metrics_are_served_in_the_prometheus_text_format(client: TestClient) -> None:
    client.get("/health")
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    names = {sample.name for sample in found}
    assert "python_info" in names
    assert value(found, HTTP_REQUESTS, route="/health", status_class="2xx") == 1
    assert value(found, CACHE_LOOKUPS, result="hit") == 0


def test_a_named_query_counts_under_its_name(client: TestClient) -> None:
    graphql(client, DASHBOARD_QUERY)
    graphql(client, DASHBOARD_QUERY)
    graphql(client, "{ kpis { orderCount } }")
    found = scrape(client)

    assert value(found, OPERATIONS, operation="Dashboard", type="query") == 2
    assert value(found, OPERATIONS, operation="anonymous", type="query") == 1
    assert value(found, OPERATIONS_TIMED, operation="Dashboard") == 2
    assert value(found, GRAPHQL_ERRORS) == 0


def test_graphql_errors_count_by_code(client: TestClient) -> None:
    bad = graphql(client, BAD_PERIOD_QUERY)
    graphql(client, "{ noSuchField }")
    found = scrape(client)

    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert value(found, GRAPHQL_ERRORS, code="BAD_USER_INPUT") == 1
    assert value(found, GRAPHQL_ERRORS, code="GRAPHQL_VALIDATION_FAILED") == 1
    assert value(found, GRAPHQL_ERRORS) == 2


def test_a_timed_out_operation_counts_a_timeout_error(
    tiny_dataset: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow_kpis(*_args: object, **_kwargs: object) -> None:
        time.sleep(1)

    monkeypatch.setattr("resolvers.sales.compute_kpis", slow_kpis)
    settings = settings_for(tmp_path, operation_timeout=0.1)
    with TestClient(create_app(settings, engine=tiny_dataset)) as client:
        timed_out = graphql(client, DASHBOARD_QUERY)
        found = scrape(client)

    assert timed_out["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert value(found, GRAPHQL_ERRORS, code="TIMEOUT") == 1
    assert value(found, OPERATIONS, operation="Dashboard", type="query") == 1


def test_requests_are_labelled_by_route_template_never_by_raw_path(client: TestClient) -> None:
    assert client.get("/analysis/does-not-exist").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    found = scrape(client)

    template = "/analysis/{file_id}"
    assert value(found, HTTP_REQUESTS, route=template, method="GET", status_class="4xx") == 1
    assert value(found, HTTP_ERRORS, route=template, status="404") == 1
    assert value(found, HTTP_ERRORS, route="other", status="404") == 1
    assert value(found, HTTP_TIMED, route=template) == 1
    labels = {label for sample in found for label in sample.labels.values()}
    assert not any("does-not-exist" in label or "/no/such" in label for label in labels)


def test_an_unknown_method_is_not_a_label_value(client: TestClient) -> None:
    client.request("BREW", "/health")
    found = scrape(client)

    assert value(found, HTTP_REQUESTS, route="/health", method="other") == 1
    assert not any(sample.labels.get("method") == "BREW" for sample in found)


def test_the_same_query_twice_misses_then_hits_the_cache(client: TestClient) -> None:
    before = scrape(client)
    graphql(client, DASHBOARD_QUERY)
    first = scrape(client)
    graphql(client, DASHBOARD_QUERY)
    second = scrape(client)

    def lookups(found: list[Sample], result: str) -> float:
        return value(found, CACHE_LOOKUPS, result=result)

    assert lookups(first, "miss") > lookups(before, "miss")
    assert lookups(second, "miss") == lookups(first, "miss")
    assert lookups(second, "hit") > lookups(first, "hit")


def test_a_finished_job_records_its_duration_and_outcome(client: TestClient) -> None:
    job = graphql(client, RUN_ANALYSIS)
    assert "errors" not in job, job

    deadline = time.monotonic() + 60
    found = scrape(client)
    while value(found, JOBS) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        found = scrape(client)

    labels = {"kind": "analysis", "outcome": "completed"}
    assert value(found, JOBS, **labels) == 1
    assert value(found, JOBS_TIMED, **labels) == 1
    assert value(found, JOB_SECONDS, **labels) > 0
    assert value(found, OPERATIONS, operation="Run", type="mutation") == 1


def test_a_local_askai_answer_is_counted_without_cost(client: TestClient) -> None:
    answer = graphql(client, ASK_AI)
    found = scrape(client)

    assert answer["data"]["askAI"]["provider"] == "local"
    assert value(found, ASK_QUESTIONS, provider="local", outcome="answered") == 1
    assert value(found, ASK_TIMED, provider="local") == 1
    assert value(found, ASK_TOKENS) == 0
    assert value(found, ASK_COST) == 0


def test_an_openai_answer_counts_its_tokens_and_cost(tiny_dataset: Engine, tmp_path: Path) -> None:
    with OpenAIStub() as stub:
        settings = settings_for(
            tmp_path,
            openai_api_key="sk-test-not-a-real-key",
            openai_base_url=stub.base_url + "/v1",
            ai_max_retries=0,
            ai_timeout=5.0,
        )
        stub.script(
            [
                completion(tool_calls=[tool_call("get_kpis", {})]),
                completion("Revenue was 100.0, from the get_kpis tool."),
            ]
        )
        with TestClient(create_app(settings, engine=tiny_dataset)) as client:
            answer = graphql(client, ASK_AI)
            found = scrape(client)

    assert (stub.errors, stub.unexpected, stub.pending) == ([], 0, 0)
    assert answer["data"]["askAI"]["provider"] == "openai"
    # Two model calls of the stub's usage: 50 prompt and 10 completion tokens each.
    assert value(found, ASK_TOKENS, provider="openai", type="prompt") == 100
    assert value(found, ASK_TOKENS, provider="openai", type="completion") == 20
    cost = (100 * settings.ai_price_input_per_1k + 20 * settings.ai_price_output_per_1k) / 1000
    assert value(found, ASK_COST, provider="openai") == pytest.approx(cost)
    assert value(found, ASK_QUESTIONS, provider="openai", outcome="answered") == 1


def test_the_61st_request_counts_a_rate_limit_rejection(
    tiny_dataset: Engine, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, rate_limit_enabled=True)
    with TestClient(create_app(settings, engine=tiny_dataset)) as client:
        statuses = [
            client.post("/graphql", json={"query": "{ __typename }"}).status_code for _ in range(61)
        ]
        # /metrics is exempt from the limit: scrapers poll on a schedule.
        found = scrape(client)

    assert statuses == [200] * 60 + [429]
    assert value(found, RATE_LIMITED, role="anonymous") == 1
    assert value(found, RATE_LIMITED) == 1
    assert value(found, HTTP_ERRORS, route="/graphql", status="429") == 1


def test_metrics_are_for_admins_when_authentication_is_required(
    tiny_dataset: Engine, tmp_path: Path
) -> None:
    admin = create_api_key(tiny_dataset, "ops", "admin").secret
    viewer = create_api_key(tiny_dataset, "dashboard", "viewer").secret
    settings = settings_for(tmp_path, require_auth=True)
    with TestClient(create_app(settings, engine=tiny_dataset)) as client:
        anonymous = client.get("/metrics")
        refused = client.get("/metrics", headers={"X-API-Key": viewer})
        found = scrape(client, headers={"X-API-Key": admin})

    assert anonymous.status_code == 401
    assert refused.status_code == 403
    assert "admin" in refused.json()["detail"]
    assert value(found, HTTP_ERRORS, route="/metrics", status="401") == 1
    assert value(found, HTTP_ERRORS, route="/metrics", status="403") == 1
    denials = [entry for entry in list_audit(tiny_dataset) if entry.target == "/metrics"]
    assert [entry.status for entry in denials] == [403, 401]


def test_two_apps_in_one_process_keep_their_own_metrics(
    tiny_dataset: Engine, tmp_path: Path
) -> None:
    with (
        TestClient(create_app(settings_for(tmp_path), engine=tiny_dataset)) as one,
        TestClient(create_app(settings_for(tmp_path), engine=tiny_dataset)) as two,
    ):
        graphql(one, DASHBOARD_QUERY)
        found_one, found_two = scrape(one), scrape(two)

    assert value(found_one, OPERATIONS, operation="Dashboard") == 1
    assert value(found_two, OPERATIONS, operation="Dashboard") == 0


def test_operation_names_are_capped_in_length_and_number() -> None:
    metrics = Metrics()
    metrics.graphql_operation("x" * 65, "query", 0.01, [])
    metrics.graphql_operation("not a name", "query", 0.01, [])
    for number in range(MAX_OPERATION_NAMES + 5):
        metrics.graphql_operation(f"Op{number}", "query", 0.01, [])
    metrics.graphql_operation("Op0", "query", 0.01, [])
    found = samples(metrics.render().decode())

    names = {sample.labels["operation"] for sample in found if sample.name == OPERATIONS}
    assert len(names) == MAX_OPERATION_NAMES + 1
    assert value(found, OPERATIONS, operation="other") == 2 + 5
    assert value(found, OPERATIONS, operation="Op0") == 2


def test_multiprocess_mode_reports_the_sum_over_workers(tmp_path: Path) -> None:
    record = (
        "from server.metrics import Metrics\n"
        "metrics = Metrics.from_environment()\n"
        "assert metrics.multiprocess_dir is not None\n"
        "metrics.cache_lookup(True)\n"
        "metrics.http_request('/health', 'GET', 200, 0.01)\n"
    )
    env = {**os.environ, MULTIPROCESS_ENV: str(tmp_path)}
    workers = [
        subprocess.Popen([sys.executable, "-c", record], cwd=REPO, env=env) for _ in range(2)
    ]
    assert [worker.wait(timeout=120) for worker in workers] == [0, 0]

    found = samples(Metrics(str(tmp_path)).render().decode())

    assert value(found, CACHE_LOOKUPS, result="hit") == 2
    assert value(found, HTTP_REQUESTS, route="/health") == 2
    # CPU and memory describe one process; a sum over workers would mislead.
    assert not any(sample.name.startswith("process_") for sample in found)
