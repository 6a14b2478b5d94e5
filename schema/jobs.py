from __future__ import annotations

import datetime as dt
import enum
from collections.abc import AsyncGenerator

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload
from strawberry.types import Info

from analytics import db
from analytics.errors import InvalidArgumentError
from analytics.uploads import UploadRequest
from resolvers.context import Context
from resolvers.jobs import (
    resolve_analysis_job,
    resolve_delete_dataset,
    resolve_run_analysis,
    resolve_upload_dataset,
    watch_job,
)
from schema._utils import convert
from schema.permissions import IsAdmin, IsAnalyst
from schema.scalars import JSON


@strawberry.enum
class JobStatus(enum.Enum):
    QUEUED = db.QUEUED
    RUNNING = db.RUNNING
    COMPLETED = db.COMPLETED
    FAILED = db.FAILED


@strawberry.type(description="An import and/or analysis running in the background.")
class AnalysisJob:
    id: strawberry.ID
    dataset: strawberry.ID = strawberry.field(description="The dataset (an upload's file_id).")
    kind: str
    status: JobStatus
    progress: float = strawberry.field(description="0..1")
    stage: str
    error: str | None
    result: JSON | None = strawberry.field(description="Import counts and analysis parts.")
    created_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None

    @classmethod
    def from_row(cls, job: db.AnalysisJob) -> AnalysisJob:
        return convert(
            cls,
            job,
            id=strawberry.ID(job.id),
            dataset=strawberry.ID(job.dataset_id),
            status=JobStatus(job.status),
        )


@strawberry.type
class UploadDatasetPayload:
    file_id: strawberry.ID = strawberry.field(description="Also the new dataset's id.")
    job: AnalysisJob


@strawberry.type
class JobQuery:
    @strawberry.field
    async def analysis_job(self, info: Info[Context, None], id: strawberry.ID) -> AnalysisJob:
        return AnalysisJob.from_row(await resolve_analysis_job(info.context, str(id)))


@strawberry.type
class JobMutation:
    @strawberry.mutation(
        description="Upload a CSV/XLSX/XLS file as a new dataset and analyse it.",
        permission_classes=[IsAnalyst],
    )
    async def upload_dataset(
        self,
        info: Info[Context, None],
        file: Upload,
        name: str | None = None,
        kind: str | None = None,
        sheet: str | None = None,
    ) -> UploadDatasetPayload:
        if not isinstance(file, UploadFile):
            # The Upload scalar takes any value; only a multipart file part is one.
            raise InvalidArgumentError(
                "file: expected a file sent as a part of a multipart request "
                "(the GraphQL multipart request spec), got a plain value"
            )
        request = UploadRequest(original_name=file.filename, name=name, kind=kind, sheet=sheet)
        try:
            job = await resolve_upload_dataset(info.context, file.file, request)
        finally:
            await file.close()
        return UploadDatasetPayload(
            file_id=strawberry.ID(job.dataset_id), job=AnalysisJob.from_row(job)
        )

    @strawberry.mutation(
        description="Re-run the analysis of an existing dataset.", permission_classes=[IsAnalyst]
    )
    async def run_analysis(self, info: Info[Context, None], dataset: strawberry.ID) -> AnalysisJob:
        return AnalysisJob.from_row(await resolve_run_analysis(info.context, str(dataset)))

    @strawberry.mutation(
        description="Delete a dataset with its rows, uploaded file and results.",
        permission_classes=[IsAdmin],
    )
    async def delete_dataset(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        return await resolve_delete_dataset(info.context, str(id))


@strawberry.type
class Subscription:
    @strawberry.subscription(description="The job after every change, until it has ended.")
    async def analysis_progress(
        self, info: Info[Context, None], job_id: strawberry.ID
    ) -> AsyncGenerator[AnalysisJob, None]:
        async for job in watch_job(info.context, str(job_id)):
            yield AnalysisJob.from_row(job)
