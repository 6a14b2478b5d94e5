"""Durable background jobs: import an uploaded file, then analyse the dataset.

A job is a row in ``analysis_jobs`` before any work starts, so an accepted
upload is never lost. Workers heartbeat through their progress updates; a
job whose heartbeat stops (the process died) is picked up again by the next
sweep, up to ``max_attempts``, then failed with the reason.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from analytics.db import COMPLETED, FAILED, QUEUED, RUNNING, AnalysisJob
from analytics.errors import AnalyticsError

logger = structlog.get_logger("salescope.jobs")

ACTIVE_STATUSES = (QUEUED, RUNNING)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JobNotFoundError(AnalyticsError, LookupError):
    code = "NOT_FOUND"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"analysis job {job_id!r} does not exist")


# A job's work: given the job and a progress callback, return the result to store.
JobWork = Callable[[AnalysisJob, Callable[[float, str], None]], dict[str, Any]]


def get_job(engine: Engine, job_id: str) -> AnalysisJob:
    with engine.connect() as conn:
        row = conn.execute(sa.select(AnalysisJob).where(_col("id") == job_id)).first()
    if row is None:
        raise JobNotFoundError(job_id)
    return AnalysisJob.model_validate(row._mapping)


def latest_job(engine: Engine, dataset_id: str) -> AnalysisJob | None:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(AnalysisJob)
            .where(_col("dataset_id") == dataset_id)
            .order_by(_col("created_at").desc())
            .limit(1)
        ).first()
    return None if row is None else AnalysisJob.model_validate(row._mapping)


def list_latest_jobs(engine: Engine, kind: str) -> list[AnalysisJob]:
    """The newest job of ``kind`` for each dataset, newest first."""
    newest = (
        sa.select(_col("dataset_id"), sa.func.max(_col("created_at")).label("created_at"))
        .where(_col("kind") == kind)
        .group_by(_col("dataset_id"))
        .subquery()
    )
    statement = (
        sa.select(AnalysisJob)
        .join(
            newest,
            sa.and_(
                _col("dataset_id") == newest.c.dataset_id,
                _col("created_at") == newest.c.created_at,
            ),
        )
        .where(_col("kind") == kind)
        .order_by(_col("created_at").desc())
    )
    with engine.connect() as conn:
        return [AnalysisJob.model_validate(row._mapping) for row in conn.execute(statement)]


def delete_jobs(engine: Engine, dataset_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(AnalysisJob).where(_col("dataset_id") == dataset_id))


def _col(name: str) -> Any:
    return AnalysisJob.__table__.c[name]  # type: ignore[attr-defined]


class JobRunner:
    """Runs jobs on a bounded thread pool and recovers jobs orphaned by a crash.

    Parameters
    ----------
    engine
        Where jobs are stored.
    work
        Maps a job ``kind`` to the function that does it.
    max_workers
        Jobs running at once in this process.
    stale_after
        Seconds without a heartbeat after which a running job counts as orphaned.
    max_attempts
        Runs a job gets before an interrupted job is failed instead of resumed.
    """

    def __init__(
        self,
        engine: Engine,
        work: dict[str, JobWork],
        max_workers: int = 2,
        stale_after: float = 30.0,
        max_attempts: int = 3,
    ) -> None:
        self.engine = engine
        self.work = work
        self.stale_after = stale_after
        self.max_attempts = max_attempts
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="job")
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._listeners: list[Callable[[AnalysisJob], None]] = []

    def subscribe(self, listener: Callable[[AnalysisJob], None]) -> Callable[[], None]:
        """Call ``listener`` with every job update made in this process; returns unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def submit(
        self, dataset_id: str, kind: str, params: dict[str, Any] | None = None
    ) -> AnalysisJob:
        if kind not in self.work:
            raise ValueError(f"unknown job kind {kind!r}")
        job = AnalysisJob(id=uuid.uuid4().hex, dataset_id=dataset_id, kind=kind, params=params)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(AnalysisJob).values(**job.model_dump()))
        self._pool.submit(self._run, job.id)
        return job

    def start(self) -> None:
        """Recover orphaned jobs now and keep sweeping for them in the background."""
        self.recover()
        self._sweeper = threading.Thread(target=self._sweep, name="job-sweeper", daemon=True)
        self._sweeper.start()

    def shutdown(self, wait: bool = True) -> None:
        self._stop.set()
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def recover(self) -> list[str]:
        """Resume or fail every active job whose heartbeat is older than ``stale_after``."""
        cutoff = _utcnow() - dt.timedelta(seconds=self.stale_after)
        with self.engine.begin() as conn:
            orphans = conn.execute(
                sa.select(_col("id"), _col("attempts")).where(
                    _col("status").in_(ACTIVE_STATUSES), _col("updated_at") < cutoff
                )
            ).all()
        resumed = []
        for job_id, attempts in orphans:
            if attempts >= self.max_attempts:
                self._finish(
                    job_id,
                    FAILED,
                    error=f"interrupted {attempts} times (the server stopped while it ran)",
                )
                continue
            if self._claim(job_id, from_statuses=ACTIVE_STATUSES, cutoff=cutoff, status=QUEUED):
                logger.info("resuming interrupted job", job_id=job_id, attempts=attempts)
                self._pool.submit(self._run, job_id)
                resumed.append(job_id)
        return resumed

    def _sweep(self) -> None:
        while not self._stop.wait(max(self.stale_after / 2, 0.5)):
            try:
                self.recover()
            except Exception:
                logger.exception("job sweep failed")

    def _claim(
        self,
        job_id: str,
        *,
        from_statuses: tuple[str, ...],
        status: str,
        cutoff: dt.datetime | None = None,
        **values: Any,
    ) -> bool:
        """Move a job to ``status`` only if nobody else did first (a compare-and-set)."""
        condition = sa.and_(_col("id") == job_id, _col("status").in_(from_statuses))
        if cutoff is not None:
            condition = sa.and_(condition, _col("updated_at") < cutoff)
        with self.engine.begin() as conn:
            updated = conn.execute(
                sa.update(AnalysisJob)
                .where(condition)
                .values(status=status, updated_at=_utcnow(), **values)
            )
        return updated.rowcount == 1

    def _run(self, job_id: str) -> None:
        claimed = self._claim(
            job_id,
            from_statuses=(QUEUED,),
            status=RUNNING,
            started_at=_utcnow(),
            attempts=_col("attempts") + 1,
            stage="starting",
        )
        if not claimed:
            return
        job = get_job(self.engine, job_id)
        self._notify(job)
        # Progress is kept in memory and persisted by the heartbeat thread: the
        # work may hold a write transaction (an import on SQLite) that a write
        # from this thread would wait on forever.
        latest: dict[str, Any] = {}
        last_notice = 0.0

        def progress(fraction: float, stage: str) -> None:
            nonlocal last_notice
            latest.update(progress=round(max(0.0, min(fraction, 1.0)), 4), stage=stage)
            now = time.monotonic()
            if self._listeners and now - last_notice >= 0.1:
                last_notice = now
                self._notify(job.model_copy(update=dict(latest)))

        beating = threading.Event()
        heart = threading.Thread(
            target=self._heartbeat, args=(job_id, beating, latest), daemon=True
        )
        heart.start()
        try:
            result = self.work[job.kind](job, progress)
        except AnalyticsError as error:
            self._finish(job_id, FAILED, error=str(error))
        except Exception as error:
            logger.exception("job failed", job_id=job_id)
            self._finish(job_id, FAILED, error=f"internal error ({type(error).__name__})")
        else:
            self._finish(job_id, COMPLETED, result=result)
        finally:
            beating.set()
            heart.join()

    def _heartbeat(self, job_id: str, stop: threading.Event, latest: dict[str, Any]) -> None:
        """Persist the latest progress and keep the job fresh through long silent steps."""
        while not stop.wait(min(self.stale_after / 3, 0.5)):
            try:
                self._update(job_id, **dict(latest))
            except Exception:
                logger.exception("job heartbeat failed", job_id=job_id)

    def _update(self, job_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(AnalysisJob)
                .where(_col("id") == job_id, _col("status") == RUNNING)
                .values(updated_at=_utcnow(), **values)
            )

    def _finish(
        self,
        job_id: str,
        status: str,
        error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        now = _utcnow()
        values: dict[str, Any] = {
            "status": status,
            "stage": status,
            "error": error,
            "updated_at": now,
            "completed_at": now,
        }
        if status == COMPLETED:
            values.update(progress=1.0, result=result)
        with self.engine.begin() as conn:
            conn.execute(sa.update(AnalysisJob).where(_col("id") == job_id).values(**values))
        self._notify(get_job(self.engine, job_id))

    def _notify(self, job: AnalysisJob) -> None:
        for listener in list(self._listeners):
            try:
                listener(job)
            except Exception:
                logger.exception("job listener failed", job_id=job.id)
