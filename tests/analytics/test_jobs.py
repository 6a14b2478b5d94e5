from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics.db import AnalysisJob
from analytics.errors import InvalidArgumentError
from analytics.jobs import JobNotFoundError, JobRunner, get_job, latest_job

Progress = Callable[[float, str], None]


def _wait_finished(engine: Engine, job_id: str, timeout: float = 10) -> AnalysisJob:
    deadline = time.monotonic() + timeout
    while True:
        job = get_job(engine, job_id)
        if job.finished:
            return job
        assert time.monotonic() < deadline, f"job stuck in {job.status}"
        time.sleep(0.02)


@pytest.fixture
def runners() -> Iterator[list[JobRunner]]:
    started: list[JobRunner] = []
    yield started
    for runner in started:
        runner.shutdown()


def test_a_job_reports_progress_and_stores_its_result(
    engine: Engine, runners: list[JobRunner]
) -> None:
    seen: list[tuple[str, float, str]] = []

    def work(job: AnalysisJob, progress: Progress) -> dict[str, Any]:
        progress(0.5, "halfway")
        return {"answer": 42, "dataset": job.dataset_id}

    runner = JobRunner(engine, {"analysis": work})
    runners.append(runner)
    runner.subscribe(lambda job: seen.append((job.status, job.progress, job.stage)))

    job = runner.submit("shop", "analysis", {"x": 1})
    done = _wait_finished(engine, job.id)

    assert (done.status, done.progress, done.stage) == ("completed", 1.0, "completed")
    assert done.result == {"answer": 42, "dataset": "shop"}
    assert done.params == {"x": 1}
    assert done.attempts == 1
    assert ("running", 0.5, "halfway") in seen
    assert latest_job(engine, "shop") == done


def test_user_errors_and_internal_faults_fail_the_job_with_a_reason(
    engine: Engine, runners: list[JobRunner]
) -> None:
    def bad_input(_job: AnalysisJob, _progress: Progress) -> dict[str, Any]:
        raise InvalidArgumentError("column 'date': row 3 has 'soon'")

    def crash(_job: AnalysisJob, _progress: Progress) -> dict[str, Any]:
        raise RuntimeError("/secret/path exploded")

    runner = JobRunner(engine, {"bad": bad_input, "crash": crash})
    runners.append(runner)

    failed = _wait_finished(engine, runner.submit("shop", "bad").id)
    crashed = _wait_finished(engine, runner.submit("shop", "crash").id)

    assert (failed.status, failed.error) == ("failed", "column 'date': row 3 has 'soon'")
    assert crashed.status == "failed"
    assert crashed.error == "internal error (RuntimeError)"


def test_no_more_than_max_workers_jobs_run_at_once(
    engine: Engine, runners: list[JobRunner]
) -> None:
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(_job: AnalysisJob, _progress: Progress) -> dict[str, Any]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.1)
        with lock:
            running -= 1
        return {}

    runner = JobRunner(engine, {"analysis": work}, max_workers=2)
    runners.append(runner)
    jobs = [runner.submit("shop", "analysis") for _ in range(5)]
    for job in jobs:
        assert _wait_finished(engine, job.id).status == "completed"
    assert peak == 2


def _orphan(engine: Engine, attempts: int, status: str = "running") -> str:
    """A job left behind by a process that died an hour ago."""
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    job = AnalysisJob(
        id=f"orphan{attempts}{status}",
        dataset_id="shop",
        status=status,
        progress=0.4,
        stage="importing",
        attempts=attempts,
        updated_at=an_hour_ago,
    )
    with engine.begin() as conn:
        conn.execute(sa.insert(AnalysisJob).values(**job.model_dump()))
    return job.id


def test_restart_resumes_interrupted_jobs_and_fails_hopeless_ones(
    engine: Engine, runners: list[JobRunner]
) -> None:
    resumable = _orphan(engine, attempts=1)
    never_started = _orphan(engine, attempts=0, status="queued")
    hopeless = _orphan(engine, attempts=3)
    runner = JobRunner(engine, {"analysis": lambda _job, _p: {"ok": True}}, max_attempts=3)
    runners.append(runner)

    runner.start()

    resumed = _wait_finished(engine, resumable)
    assert (resumed.status, resumed.attempts, resumed.result) == ("completed", 2, {"ok": True})
    assert _wait_finished(engine, never_started).status == "completed"
    failed = _wait_finished(engine, hopeless)
    assert failed.status == "failed"
    assert failed.error is not None and "interrupted 3 times" in failed.error


def test_a_live_job_is_not_taken_over(engine: Engine, runners: list[JobRunner]) -> None:
    release = threading.Event()
    runs = 0

    def slow(_job: AnalysisJob, _progress: Progress) -> dict[str, Any]:
        nonlocal runs
        runs += 1
        release.wait(5)
        return {}

    runner = JobRunner(engine, {"analysis": slow}, stale_after=0.6)
    runners.append(runner)
    job = runner.submit("shop", "analysis")
    time.sleep(1.5)  # well past stale_after: only the heartbeat keeps it fresh

    assert runner.recover() == []
    release.set()
    assert _wait_finished(engine, job.id).status == "completed"
    assert runs == 1


def test_unknown_job(engine: Engine) -> None:
    with pytest.raises(JobNotFoundError, match="'nope'"):
        get_job(engine, "nope")


def test_progress_reported_inside_a_write_transaction_does_not_deadlock(
    engine: Engine, runners: list[JobRunner]
) -> None:
    from analytics.db import replace_dataset
    from tests.conftest import tiny_tables

    def import_slowly(_job: AnalysisJob, progress: Progress) -> dict[str, Any]:
        # replace_dataset calls back while it holds the database's write lock;
        # the pauses give the heartbeat time to try to write meanwhile.
        def report(fraction: float, stage: str) -> None:
            progress(fraction, stage)
            time.sleep(0.3)

        replace_dataset(engine, "held", "Held", tiny_tables(), progress=report)
        return {"ok": True}

    runner = JobRunner(engine, {"analysis": import_slowly}, stale_after=0.6)
    runners.append(runner)

    job = _wait_finished(engine, runner.submit("held", "analysis").id, timeout=20)

    assert (job.status, job.error) == ("completed", None)
