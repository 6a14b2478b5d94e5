from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from analytics.db import get_dataset
from analytics.errors import DatasetNotFoundError
from analytics.store import AnalyticsStore
from resolvers.context import Context
from schema import schema
from tests.schema.conftest import Execute

RUN_ANALYSIS = (
    "mutation Run($dataset: ID!) { runAnalysis(dataset: $dataset) { id status dataset } }"
)
JOB_QUERY = "query Job($id: ID!) { analysisJob(id: $id) { status progress stage result error } }"
PROGRESS_SUBSCRIPTION = """
subscription Progress($id: ID!) { analysisProgress(jobId: $id) { status progress stage } }
"""


async def _follow(make_context: Callable[[], Context], job_id: str) -> list[dict[str, Any]]:
    updates = []
    stream = await schema.subscribe(
        PROGRESS_SUBSCRIPTION, variable_values={"id": job_id}, context_value=make_context()
    )
    async for result in stream:  # type: ignore[union-attr]
        assert result.errors is None, result.errors
        updates.append(result.data["analysisProgress"])
    return updates


async def test_run_analysis_streams_progress_until_completed(
    execute: Execute, make_context: Callable[[], Context]
) -> None:
    job = (await execute(RUN_ANALYSIS, {"dataset": "tiny"}))["runAnalysis"]
    assert (job["dataset"], job["status"]) == ("tiny", "QUEUED")

    updates = await _follow(make_context, job["id"])

    assert updates[-1] == {"status": "COMPLETED", "progress": 1.0, "stage": "completed"}
    progress = [u["progress"] for u in updates]
    assert progress == sorted(progress)
    done = (await execute(JOB_QUERY, {"id": job["id"]}))["analysisJob"]
    assert done["result"]["kpis"]["data"]["total_revenue"] == 100.0
    assert done["result"]["sales"]["success"] is True


async def test_run_analysis_of_unknown_dataset_and_unknown_job(execute: Execute) -> None:
    missing = await execute(RUN_ANALYSIS, {"dataset": "nope"}, errors=True)
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    unknown = await execute(JOB_QUERY, {"id": "nope"}, errors=True)
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_delete_dataset(execute: Execute, store: AnalyticsStore) -> None:
    deleted = await execute('mutation { deleteDataset(id: "tiny") }')

    assert deleted == {"deleteDataset": True}
    with pytest.raises(DatasetNotFoundError):
        get_dataset(store.engine, "tiny")
    again = await execute('mutation { deleteDataset(id: "tiny") }', errors=True)
    assert again["errors"][0]["extensions"]["code"] == "NOT_FOUND"
