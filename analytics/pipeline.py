"""What an analysis job does: import an upload, then analyse the dataset.

Each part of the analysis succeeds or fails on its own, so one missing
column costs its part, not the whole report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from analytics.churn import churn_report_data, churn_risk
from analytics.db import AnalysisJob
from analytics.errors import AnalyticsError
from analytics.forecast import forecast_revenue
from analytics.frames import DatasetFrames
from analytics.ingest import import_file
from analytics.kpis import compute_kpis
from analytics.sales import profile_seasonality, rank_top_products
from analytics.segmentation import SegmentationMethod, segment_dataset, segmentation_report
from analytics.store import AnalyticsStore

logger = structlog.get_logger("salescope.pipeline")

Progress = Callable[[float, str], None]
UPLOAD_JOB, ANALYSIS_JOB = "upload", "analysis"


def analyse_dataset(
    store: AnalyticsStore,
    dataset_id: str,
    progress: Progress | None = None,
    *,
    model_dir: Path | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """The upload report: KPIs, churn, segmentation and sales, each with ``success``.

    Churn and segmentation models are fitted in a worker process stopped
    after ``timeout`` seconds, through the same cached entry points as
    GraphQL, so the numbers match and a later query reuses the fit. A part
    that fails (too little data, a timeout, a bug) reports its error and the
    others still run.
    """
    parts: dict[str, Callable[[], dict[str, Any]]] = {
        "kpis": lambda: _plain(dataclasses.asdict(compute_kpis(store.frames(dataset_id)))),
        "churn": lambda: churn_report_data(churn_risk(store, dataset_id, timeout=timeout)),
        "segmentation": lambda: segmentation_report(
            segment_dataset(
                store, dataset_id, SegmentationMethod.KMEANS, model_dir=model_dir, timeout=timeout
            )
        ),
        "sales": lambda: _sales(store.frames(dataset_id)),
    }
    results: dict[str, Any] = {}
    for index, (name, part) in enumerate(parts.items()):
        if progress is not None:
            progress(index / len(parts), f"analysing {name}")
        try:
            results[name] = {"success": True, "data": part()}
        except AnalyticsError as error:
            results[name] = {"success": False, "error": str(error)}
        except Exception as error:
            logger.exception("analysis part failed", part=name, dataset=dataset_id)
            results[name] = {"success": False, "error": f"internal error ({type(error).__name__})"}
    return results


def _sales(frames: DatasetFrames) -> dict[str, Any]:
    top = rank_top_products(frames, limit=10)
    seasonality = profile_seasonality(frames)
    try:
        forecast = forecast_revenue(frames, horizon=3)
        forecast_data: dict[str, Any] = {
            "method": forecast.method,
            "model": forecast.model.value,
            "reason": forecast.reason,
            "points": [_plain(dataclasses.asdict(p)) for p in forecast.points],
            "backtest": (
                _plain(dataclasses.asdict(forecast.backtest)) if forecast.backtest else None
            ),
            "notes": list(forecast.notes),
        }
    except AnalyticsError as error:
        forecast_data = {"error": str(error)}
    return {
        "forecast": forecast_data,
        "top10_products": [_plain(dataclasses.asdict(p)) for p in top.items],
        "seasonal_patterns": {
            "by_month": [_plain(dataclasses.asdict(m)) for m in seasonality.by_month],
            "by_weekday": [_plain(dataclasses.asdict(d)) for d in seasonality.by_weekday],
        },
    }


def _plain(value: Any) -> Any:
    """JSON-safe copy: dates as ISO strings, NaN as null."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item"):
        return _plain(value.item())
    return value


def make_job_work(
    store: AnalyticsStore,
    upload_dir: Path,
    *,
    model_dir: Path | None = None,
    timeout: float | None = None,
) -> dict[str, Callable[[AnalysisJob, Progress], dict[str, Any]]]:
    """The functions a JobRunner calls for each job kind.

    ``timeout`` bounds each model fit of the analysis (see :func:`analyse_dataset`).
    """

    def analyse(dataset_id: str, progress: Progress) -> dict[str, Any]:
        return analyse_dataset(store, dataset_id, progress, model_dir=model_dir, timeout=timeout)

    def upload(job: AnalysisJob, progress: Progress) -> dict[str, Any]:
        params = job.params or {}
        imported = import_file(
            store.engine,
            upload_dir / str(params["stored_name"]),
            job.dataset_id,
            name=params.get("name"),
            original_name=params.get("original_name"),
            kind=params.get("kind"),
            sheet=params.get("sheet"),
            progress=lambda f, stage: progress(0.7 * f, stage),
            publish=store.publish,
        )
        results = analyse(job.dataset_id, lambda f, stage: progress(0.7 + 0.3 * f, stage))
        return {
            "import": {
                "rows_read": imported.rows_read,
                "rows_imported": imported.rows_imported,
                "rows_rejected": imported.rows_rejected,
                "rejections": list(imported.rejections),
                "customers": imported.customers,
                "orders": imported.orders,
                "column_mapping": imported.column_mapping,
            },
            **results,
        }

    def analysis(job: AnalysisJob, progress: Progress) -> dict[str, Any]:
        return analyse(job.dataset_id, progress)

    return {UPLOAD_JOB: upload, ANALYSIS_JOB: analysis}
