from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from analytics.db import AnalysisJob, get_dataset
from analytics.jobs import get_job
from analytics.pipeline import ANALYSIS_JOB
from analytics.uploads import UploadRequest, accept_upload, remove_dataset
from resolvers._utils import off_loop
from resolvers.context import Context

# Jobs run in other worker processes report only through the database.
POLL_SECONDS = 1.0


async def resolve_analysis_job(context: Context, job_id: str) -> AnalysisJob:
    job = await off_loop(get_job, context.store.engine, job_id)
    context.require_dataset(job.dataset_id)
    return job


async def resolve_run_analysis(context: Context, dataset: str) -> AnalysisJob:
    dataset = context.dataset_id(dataset)
    await off_loop(get_dataset, context.store.engine, dataset)
    return await off_loop(context.jobs.submit, dataset, ANALYSIS_JOB)


async def resolve_delete_dataset(context: Context, dataset: str) -> bool:
    dataset = context.dataset_id(dataset)
    await off_loop(remove_dataset, context.store, _upload_dir(context), dataset)
    return True


async def resolve_upload_dataset(
    context: Context, source: BinaryIO, request: UploadRequest
) -> AnalysisJob:
    # The upload becomes a new dataset, which a key limited to some datasets could not see.
    context.principal.require_unscoped("uploading a dataset")
    return await off_loop(accept_upload, context.jobs, _upload_dir(context), source, request)


async def watch_job(context: Context, job_id: str) -> AsyncIterator[AnalysisJob]:
    """Yield the job now and after every change until it has ended.

    Changes made in this process arrive at once through the runner; a poll
    of the database catches those made by other worker processes.
    """
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def on_update(job: AnalysisJob) -> None:
        if job.id == job_id:
            loop.call_soon_threadsafe(changed.set)

    unsubscribe = context.jobs.subscribe(on_update)
    try:
        last: tuple[object, ...] | None = None
        while True:
            job = await resolve_analysis_job(context, job_id)
            state = (job.status, job.progress, job.stage)
            if state != last:
                last = state
                yield job
            if job.finished:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), POLL_SECONDS)
            changed.clear()
    finally:
        unsubscribe()


def _upload_dir(context: Context) -> Path:
    if context.upload_dir is None:
        raise RuntimeError("this context has no upload directory")
    return context.upload_dir
