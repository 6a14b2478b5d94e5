"""Accepting an uploaded file: one path for REST and GraphQL uploads alike."""

from __future__ import annotations

import shutil
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from analytics.db import AnalysisJob, check_dataset_id, delete_dataset
from analytics.errors import AnalyticsError, DatasetNotFoundError, InvalidArgumentError
from analytics.formats import UnsupportedFormatError, sniff_format
from analytics.ingest import read_upload
from analytics.jobs import ACTIVE_STATUSES, JobRunner, delete_jobs, latest_job
from analytics.pipeline import UPLOAD_JOB
from analytics.store import AnalyticsStore

SUPPORTED_EXTENSIONS = (".csv", ".xls", ".xlsx")
UPLOAD_KINDS = ("transactions", "customers")


class UploadRejectedError(AnalyticsError):
    """The upload itself (not its rows) is unusable, e.g. its file name."""


@dataclass(frozen=True)
class UploadRequest:
    original_name: str | None
    name: str | None = None
    kind: str | None = None
    sheet: str | None = None


def accept_upload(
    runner: JobRunner, upload_dir: Path, source: BinaryIO, request: UploadRequest
) -> AnalysisJob:
    """Store the file under a generated name, check it, and queue its import and analysis.

    The file is read and validated before the job is queued, so a bad file is
    refused now with its reason (and nothing is kept); the job then imports it
    as a new dataset whose id is the job's ``file_id``.

    Raises
    ------
    InvalidArgumentError
        A parameter is wrong (kind, sheet, name).
    UploadRejectedError
        The file name is unusable.
    UnsupportedFormatError
        The content is not CSV, XLSX or XLS, whatever the extension says.
    IngestError
        The file's rows cannot be imported (the message names column and row).
    """
    original_name = client_file_name(request.original_name)
    kind = _choice(request.kind, "kind", UPLOAD_KINDS)
    extension = PurePosixPath(original_name).suffix.lower()
    if extension not in SUPPORTED_EXTENSIONS:
        raise UnsupportedFormatError(
            f"unsupported file type {extension or '(none)'!r}: upload a .csv, .xlsx or .xls file"
        )
    file_id = uuid.uuid4().hex
    stored = _store(source, upload_dir, file_id)
    try:
        with stored.open("rb") as handle:
            file_format = sniff_format(handle.read(8192), original_name)
        parsed = read_upload(stored, original_name=original_name, kind=kind, sheet=request.sheet)
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    params = {
        "stored_name": stored.name,
        "original_name": original_name,
        "name": request.name or PurePosixPath(original_name).stem,
        "kind": kind,
        "sheet": request.sheet,
        "format": file_format,
        "size": stored.stat().st_size,
        "detected_kind": parsed.kind,
        "rows": {
            "read": parsed.rows_read,
            "to_import": parsed.rows_imported,
            "rejected": parsed.rows_rejected,
            "first_rejections": list(parsed.rejections),
        },
    }
    return runner.submit(file_id, UPLOAD_JOB, params)


def client_file_name(raw: str | None) -> str:
    """The client's file name, as metadata only: its last component, no control characters."""
    if not raw:
        raise UploadRejectedError("the upload has no file name (send the file as a file part)")
    if any(unicodedata.category(ch) == "Cc" for ch in raw):
        raise UploadRejectedError("file name contains control characters (such as NUL)")
    name = PurePosixPath(raw.replace("\\", "/")).name
    if name in ("", ".", ".."):
        raise UploadRejectedError(f"file name {raw!r} names no file")
    return name[:255]


def _choice(value: str | None, field: str, choices: tuple[str, ...]) -> str | None:
    if value is None or not value.strip():
        return None
    if value.strip().lower() not in choices:
        raise InvalidArgumentError(f"{field}: expected one of {', '.join(choices)}, got {value!r}")
    return value.strip().lower()


def _store(source: BinaryIO, upload_dir: Path, file_id: str) -> Path:
    upload_dir.mkdir(parents=True, exist_ok=True)
    target = upload_dir / f"{file_id}.upload"
    partial = upload_dir / f".{file_id}.part"
    source.seek(0)
    with partial.open("wb") as out:
        shutil.copyfileobj(source, out, length=1024 * 1024)
    partial.replace(target)
    return target


def delete_upload_file(upload_dir: Path, job: AnalysisJob) -> None:
    stored = (job.params or {}).get("stored_name")
    if stored:
        (upload_dir / str(stored)).unlink(missing_ok=True)


class DatasetBusyError(AnalyticsError):
    code = "CONFLICT"


def remove_dataset(store: AnalyticsStore, upload_dir: Path, dataset_id: str) -> None:
    """Delete a dataset with everything derived from it: rows, jobs, stored file, snapshot.

    Raises
    ------
    DatasetNotFoundError
        When there is neither such a dataset nor an upload job for it.
    DatasetBusyError
        While its import or analysis is still running.
    """
    check_dataset_id(dataset_id)
    job = latest_job(store.engine, dataset_id)
    if job is not None and job.status in ACTIVE_STATUSES:
        raise DatasetBusyError(
            f"dataset {dataset_id!r} is still being analysed; delete it once the job has ended"
        )
    try:
        delete_dataset(store.engine, dataset_id)
    except DatasetNotFoundError:
        if job is None:
            raise
    delete_jobs(store.engine, dataset_id)
    if job is not None:
        delete_upload_file(upload_dir, job)
    if store.snapshot_dir is not None:
        shutil.rmtree(store.snapshot_dir / dataset_id, ignore_errors=True)
