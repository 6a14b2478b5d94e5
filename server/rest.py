"""REST compatibility routes for RPA robots: upload, poll the analysis, health, logs.

The JSON shapes are those of the upload-and-analyse service UiPath robots
already call (DESIGN.md, "REST compatibility"); every error is
``{"detail": "..."}`` with its status code. The routes call the same
analytics functions as GraphQL, never the GraphQL layer.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from anyio import to_thread
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from analytics.access import AccessDeniedError, Role
from analytics.audit import FAILED, MAX_AUDIT_ENTRIES, SUCCESS, list_audit
from analytics.db import FAILED as JOB_FAILED
from analytics.db import QUEUED, RUNNING, AnalysisJob
from analytics.errors import AnalyticsError, DatasetNotFoundError, InvalidArgumentError
from analytics.formats import UnsupportedFormatError
from analytics.jobs import JobRunner, latest_job, list_latest_jobs
from analytics.pipeline import UPLOAD_JOB
from analytics.store import AnalyticsStore
from analytics.uploads import (
    SUPPORTED_EXTENSIONS,
    DatasetBusyError,
    UploadRequest,
    accept_upload,
    remove_dataset,
)
from server.auditing import Auditor
from server.auth import principal_of
from server.logtail import read_last_lines
from server.openapi import openapi_document, swagger_html
from server.settings import Settings

logger = structlog.get_logger("salescope.rest")

MAX_LOG_LINES = 10_000
# Multipart framing (boundaries, part headers, small fields) on top of the file itself.
_FORM_OVERHEAD = 64 * 1024


class _TooLarge(Exception):
    pass


@dataclass
class RestContext:
    settings: Settings
    store: AnalyticsStore
    runner: JobRunner
    auditor: Auditor

    @property
    def upload_dir(self) -> Path:
        return self.settings.upload_dir


def rest_routes(context: RestContext) -> list[Route]:
    """The REST surface, bound to the app's settings, store and job runner."""

    async def authorize(
        request: Request,
        role: Role,
        action: str,
        *,
        dataset: str | None = None,
        unscoped: bool = False,
    ) -> None:
        """Nothing if the caller's role and dataset scope allow ``action``; else 403, audited."""
        principal = principal_of(request.scope)
        try:
            principal.require_role(role, action)
            if dataset is not None:
                principal.require_dataset(dataset)
            if unscoped:
                principal.require_unscoped(action)
        except AccessDeniedError as error:
            await context.auditor.denied(request.scope, 403, str(error))
            raise HTTPException(403, str(error)) from error

    async def upload(request: Request) -> JSONResponse:
        await authorize(request, Role.ANALYST, "uploading a file", unscoped=True)
        try:
            response = await _accept(request)
        except HTTPException as error:
            await context.auditor.record(
                request.scope, "upload", FAILED, status=error.status_code, detail=error.detail
            )
            raise
        return response

    async def _accept(request: Request) -> JSONResponse:
        limit = context.settings.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit + _FORM_OVERHEAD:
            raise HTTPException(413, _too_large(limit))
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise HTTPException(
                415, "expected a multipart/form-data request with the file in the 'file' field"
            )
        form = await _read_form(request, limit)
        try:
            file = form.get("file")
            if not isinstance(file, UploadFile):
                raise HTTPException(
                    422, "multipart field 'file' is missing (it must hold the file)"
                )
            upload_request = UploadRequest(
                original_name=file.filename,
                name=_form_text(form, "name"),
                kind=_form_text(form, "kind"),
                sheet=_form_text(form, "sheet"),
            )
            job = await to_thread.run_sync(
                accept_upload, context.runner, context.upload_dir, file.file, upload_request
            )
        except AnalyticsError as error:
            raise HTTPException(_status_for(error), str(error)) from error
        finally:
            await form.close()
        logger.info("upload accepted", file_id=job.dataset_id, params=job.params)
        await context.auditor.record(
            request.scope, "upload", SUCCESS, status=200, target=job.dataset_id
        )
        return JSONResponse(
            {
                "success": True,
                "message": "File uploaded; analysis started",
                "file_id": job.dataset_id,
                "file_info": _file_info(job),
                "rows": (job.params or {}).get("rows"),
                "analysis_url": f"/analysis/{job.dataset_id}",
            }
        )

    async def analysis(request: Request) -> JSONResponse:
        file_id = request.path_params["file_id"]
        await authorize(request, Role.VIEWER, "reading an analysis", dataset=file_id)
        job = await to_thread.run_sync(latest_job, context.store.engine, file_id)
        if job is None:
            raise HTTPException(404, f"no upload with file_id {file_id!r}")
        return JSONResponse(_analysis_body(job))

    async def analyses(request: Request) -> JSONResponse:
        principal = principal_of(request.scope)
        jobs = await to_thread.run_sync(list_latest_jobs, context.store.engine, UPLOAD_JOB)
        jobs = [job for job in jobs if principal.can_see(job.dataset_id)]
        items = [
            {
                "file_id": job.dataset_id,
                "file_info": _file_info(job),
                "status": _public_status(job),
                "progress": job.progress,
                "analysis_url": f"/analysis/{job.dataset_id}",
            }
            for job in jobs
        ]
        return JSONResponse({"success": True, "count": len(items), "analyses": items})

    async def delete_analysis(request: Request) -> JSONResponse:
        file_id = request.path_params["file_id"]
        await authorize(request, Role.ADMIN, "deleting a dataset", dataset=file_id)
        try:
            await to_thread.run_sync(remove_dataset, context.store, context.upload_dir, file_id)
        except AnalyticsError as error:
            unknown = isinstance(error, DatasetNotFoundError | InvalidArgumentError)
            status = 404 if unknown else _status_for(error)
            await context.auditor.record(
                request.scope, "delete", FAILED, status=status, target=file_id, detail=str(error)
            )
            detail = f"no upload with file_id {file_id!r}" if unknown else str(error)
            raise HTTPException(status, detail) from error
        await context.auditor.record(request.scope, "delete", SUCCESS, status=200, target=file_id)
        return JSONResponse({"success": True, "message": f"upload {file_id} deleted"})

    async def one_analysis(request: Request) -> JSONResponse:
        # One route for both methods, so a 405 lists both in Allow.
        if request.method == "DELETE":
            return await delete_analysis(request)
        return await analysis(request)

    async def status(_request: Request) -> JSONResponse:
        directories = {
            "data": context.settings.data_dir,
            "uploads": context.upload_dir,
            "logs": context.settings.log_file.parent,
        }
        checks = {name: _directory_check(path) for name, path in directories.items()}
        return JSONResponse(
            {
                "status": "operational"
                if all(c["writable"] for c in checks.values())
                else "degraded",
                "supported_formats": list(SUPPORTED_EXTENSIONS),
                "max_file_size": context.settings.max_upload_bytes,
                "max_file_size_mb": round(context.settings.max_upload_bytes / 1_000_000, 1),
                "max_concurrent_jobs": context.settings.max_concurrent_jobs,
                "directories": checks,
                "timestamp": _now(),
            }
        )

    async def service_info(_request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "service": "salescope",
                "description": "GraphQL analytics server for customer and sales data",
                "graphql": "/graphql",
                "endpoints": {
                    "upload": "POST /upload",
                    "analysis": "GET /analysis/{file_id}",
                    "analyses": "GET /analysis",
                    "delete": "DELETE /analysis/{file_id}",
                    "health": "GET /health",
                    "status": "GET /status",
                    "logs": "GET /logs/last/{num_lines}",
                    "audit": "GET /audit/logs?limit=",
                    "openapi": "GET /openapi.json",
                    "docs": "GET /docs",
                },
            }
        )

    async def last_log_lines(request: Request) -> PlainTextResponse:
        await authorize(request, Role.ADMIN, "reading the logs")
        raw = request.path_params["num_lines"]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LOG_LINES:
            raise HTTPException(
                422, f"num_lines: expected a whole number from 1 to {MAX_LOG_LINES}, got {raw!r}"
            )
        text = await to_thread.run_sync(read_last_lines, context.settings.log_file, int(raw))
        return PlainTextResponse(text)

    async def audit_logs(request: Request) -> JSONResponse:
        await authorize(request, Role.ADMIN, "reading the audit log")
        raw = request.query_params.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_AUDIT_ENTRIES:
            raise HTTPException(
                422, f"limit: expected a whole number from 1 to {MAX_AUDIT_ENTRIES}, got {raw!r}"
            )
        entries = await to_thread.run_sync(list_audit, context.store.engine, int(raw))
        items = [{**entry.model_dump(exclude={"at"}), "at": _iso(entry.at)} for entry in entries]
        return JSONResponse({"success": True, "count": len(items), "entries": items})

    async def openapi(_request: Request) -> JSONResponse:
        return JSONResponse(openapi_document(context.settings))

    async def docs(_request: Request) -> HTMLResponse:
        return HTMLResponse(swagger_html("/openapi.json"))

    return [
        Route("/", service_info, methods=["GET"]),
        Route("/upload", upload, methods=["POST"]),
        Route("/analysis", analyses, methods=["GET"]),
        Route("/analysis/{file_id}", one_analysis, methods=["GET", "DELETE"]),
        Route("/status", status, methods=["GET"]),
        Route("/logs/last/{num_lines}", last_log_lines, methods=["GET"]),
        Route("/audit/logs", audit_logs, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]


async def http_error(request: Request, exc: Exception) -> Response:
    """Every HTTP error of the REST surface as ``{"detail": ...}``."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _read_form(request: Request, limit: int) -> Any:
    """Parse the multipart body, cutting the request off once it passes ``limit``."""
    received = 0

    async def limited() -> AsyncGenerator[bytes, None]:
        nonlocal received
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + _FORM_OVERHEAD:
                raise _TooLarge
            yield chunk

    parser = MultiPartParser(
        request.headers, limited(), max_files=1, max_fields=10, max_part_size=64 * 1024
    )
    try:
        return await parser.parse()
    except _TooLarge as error:
        raise HTTPException(413, _too_large(limit)) from error
    except MultiPartException as error:
        raise HTTPException(400, f"malformed multipart body: {error.message}") from error


def _too_large(limit: int) -> str:
    return f"file too large: the limit is {limit / 1_000_000:g} MB"


def _form_text(form: Any, field: str) -> str | None:
    value = form.get(field)
    if value is None or isinstance(value, str):
        return value
    raise HTTPException(422, f"{field}: expected text, got a file")


def _status_for(error: AnalyticsError) -> int:
    """The HTTP status of a refused request: what was wrong decides it."""
    if isinstance(error, UnsupportedFormatError):
        return 415
    if isinstance(error, DatasetBusyError):
        return 409
    if isinstance(error, InvalidArgumentError):
        return 422
    return 400


def _public_status(job: AnalysisJob) -> str:
    return {QUEUED: "processing", RUNNING: "processing"}.get(job.status, job.status)


def _file_info(job: AnalysisJob) -> dict[str, Any]:
    params = job.params or {}
    return {
        "file_id": job.dataset_id,
        "filename": params.get("stored_name"),
        "original_name": params.get("original_name"),
        "size": params.get("size"),
        "format": params.get("format"),
        "upload_time": _iso(job.created_at),
        "status": _public_status(job),
    }


def _analysis_body(job: AnalysisJob) -> dict[str, Any]:
    public = _public_status(job)
    analysis: dict[str, Any] = {"status": public, "progress": job.progress, "stage": job.stage}
    if job.status == JOB_FAILED:
        analysis["error"] = job.error
    if job.result is not None:
        result = dict(job.result)
        analysis["import"] = result.pop("import", None)
        analysis["results"] = result
    analysis["completed_at"] = _iso(job.completed_at)
    return {
        "success": job.status != JOB_FAILED,
        "file_id": job.dataset_id,
        "file_info": _file_info(job),
        "analysis": analysis,
        "timestamp": _now(),
    }


def _directory_check(path: Path) -> dict[str, Any]:
    return {"path": str(path), "exists": path.is_dir(), "writable": os.access(path, os.W_OK)}


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
