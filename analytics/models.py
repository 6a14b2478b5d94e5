"""The model registry: trained models as ``ModelVersion`` rows plus joblib artifacts.

A version row says what a model was fitted on and how well it did; its
fitted estimator is saved as ``<model dir>/<id>.joblib``. The file is
written under a temporary name and renamed into place before the row is
committed, and removed again when the row cannot be written, so a version
is listed only when its artifact exists and no orphan file is left behind.

The registry is generic: segmentation models use kind ``"segmentation"``;
other kinds (churn) store theirs the same way.
"""

from __future__ import annotations

import hashlib
import math
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import select

from analytics.db import ModelVersion
from analytics.errors import AnalyticsError

# Writers race for the next version number; the unique constraint decides
# and the loser retries with the number after the winner's.
_VERSION_ATTEMPTS = 5
_CACHED_MODELS = 16


class ModelNotFoundError(AnalyticsError, LookupError):
    code = "NOT_FOUND"

    def __init__(self, model_id: str) -> None:
        super().__init__(f"model {model_id!r} does not exist")
        self.model_id = model_id


class ModelArtifactMissingError(AnalyticsError, LookupError):
    """The version row exists but its saved estimator is gone from the model directory."""

    code = "NOT_FOUND"


@dataclass(frozen=True)
class TrainedModel:
    """What a training function returns for the registry to store.

    ``estimator`` is saved with joblib; the rest goes into the version row.
    ``reference`` is :func:`analytics.features.describe_reference` of the
    training features and ``fingerprint`` :func:`fingerprint_features` of the
    table the estimator was fitted on.
    """

    estimator: Any
    params: dict[str, Any]
    features: tuple[str, ...]
    metrics: dict[str, Any]
    reference: dict[str, Any]
    fingerprint: str


def fingerprint_features(table: pd.DataFrame) -> str:
    """SHA-256 of a feature table: its column names, dtypes, index and values.

    Deterministic across processes and platforms (pandas hashes with a fixed
    key), so equal training data always gives the same fingerprint.
    """
    digest = hashlib.sha256()
    header = [f"{name}:{table[name].dtype}" for name in table.columns]
    digest.update("\x1f".join(header).encode())
    rows = pd.util.hash_pandas_object(table, index=True).to_numpy(dtype="uint64")
    digest.update(rows.astype("<u8").tobytes())
    return digest.hexdigest()


def json_safe(value: Any) -> Any:
    """A copy of ``value`` that JSON (and PostgreSQL's JSON type) accepts.

    numpy scalars become Python numbers, NaN and infinities become ``None``,
    tuples become lists and mapping keys become strings.
    """
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_model_version(
    engine: Engine,
    model_dir: Path,
    *,
    dataset_id: str,
    dataset_version: int,
    kind: str,
    method: str,
    trained: TrainedModel,
) -> ModelVersion:
    """Store a trained model as the next version of ``(dataset_id, kind, method)``.

    Parameters
    ----------
    engine : Engine
        The database holding the ``model_versions`` table.
    model_dir : Path
        Where the artifact ``<id>.joblib`` is written (created if needed).
    dataset_id, dataset_version : str, int
        The dataset (and its version) the model was trained on.
    kind, method : str
        E.g. ``"segmentation"`` and ``"kmeans"``.
    trained : TrainedModel
        The fitted estimator and what to record about it.

    Returns
    -------
    ModelVersion
        The committed row; ``version`` is one more than the highest so far
        (1 for the first).
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    model_id = uuid.uuid4().hex
    artifact = model_dir / f"{model_id}.joblib"
    staging = model_dir / f".tmp-{model_id}.joblib"
    try:
        joblib.dump(trained.estimator, staging)
        staging.replace(artifact)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    values = {
        "id": model_id,
        "dataset_id": dataset_id,
        "dataset_version": dataset_version,
        "kind": kind,
        "method": method,
        "params": json_safe(trained.params),
        "features": list(trained.features),
        "metrics": json_safe(trained.metrics),
        "fingerprint": trained.fingerprint,
        "reference": json_safe(trained.reference),
        "artifact_path": artifact.name,
    }
    try:
        _insert_next_version(engine, values)
    except BaseException:
        artifact.unlink(missing_ok=True)
        raise
    return get_model_version(engine, model_id)


def _insert_next_version(engine: Engine, values: dict[str, Any]) -> None:
    table = ModelVersion.__table__  # type: ignore[attr-defined]
    same_series = sa.and_(
        table.c.dataset_id == values["dataset_id"],
        table.c.kind == values["kind"],
        table.c.method == values["method"],
    )
    for attempt in range(_VERSION_ATTEMPTS):
        try:
            with engine.begin() as conn:
                latest = conn.execute(sa.select(sa.func.max(table.c.version)).where(same_series))
                version = int(latest.scalar() or 0) + 1
                row = ModelVersion.model_validate({**values, "version": version})
                conn.execute(table.insert().values(**row.model_dump()))
            return
        except sa.exc.IntegrityError:
            if attempt == _VERSION_ATTEMPTS - 1:
                raise


def list_model_versions(
    engine: Engine,
    *,
    dataset_id: str | None = None,
    kind: str | None = None,
    method: str | None = None,
) -> list[ModelVersion]:
    """Stored model versions, newest first, optionally of one dataset, kind or method."""
    table = ModelVersion.__table__  # type: ignore[attr-defined]
    query = select(ModelVersion)
    for column, wanted in (("dataset_id", dataset_id), ("kind", kind), ("method", method)):
        if wanted is not None:
            query = query.where(table.c[column] == wanted)
    query = query.order_by(table.c.created_at.desc(), table.c.version.desc(), table.c.id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [ModelVersion.model_validate(row._mapping) for row in rows]


def get_model_version(engine: Engine, model_id: str) -> ModelVersion:
    """The version with this id; :class:`ModelNotFoundError` when there is none."""
    with engine.connect() as conn:
        row = conn.execute(select(ModelVersion).where(ModelVersion.id == model_id)).first()
    if row is None:
        raise ModelNotFoundError(model_id)
    return ModelVersion.model_validate(row._mapping)


def latest_model_version(
    engine: Engine,
    dataset_id: str,
    kind: str,
    method: str,
    *,
    dataset_version: int | None = None,
) -> ModelVersion | None:
    """The highest version of ``(dataset_id, kind, method)``, or ``None``.

    With ``dataset_version``, only models trained on that version of the
    dataset count.
    """
    table = ModelVersion.__table__  # type: ignore[attr-defined]
    query = select(ModelVersion).where(
        table.c.dataset_id == dataset_id, table.c.kind == kind, table.c.method == method
    )
    if dataset_version is not None:
        query = query.where(table.c.dataset_version == dataset_version)
    with engine.connect() as conn:
        row = conn.execute(query.order_by(table.c.version.desc()).limit(1)).first()
    return None if row is None else ModelVersion.model_validate(row._mapping)


_loaded: OrderedDict[str, Any] = OrderedDict()
_loaded_guard = threading.Lock()


def load_model(model_dir: Path, version: ModelVersion) -> Any:
    """The fitted estimator of ``version``, read from ``model_dir``.

    Artifacts never change once written (each version has its own file), so
    the last few loaded are kept in memory. Only files inside ``model_dir``
    are read: joblib files are pickles and must come from the server itself.

    Raises
    ------
    ModelArtifactMissingError
        When the file is not there (the model directory was lost or moved).
    """
    home = model_dir.resolve()
    path = (home / version.artifact_path).resolve()
    if path.parent != home:
        raise ModelArtifactMissingError(
            f"model {version.id!r}: artifact path {version.artifact_path!r} is outside the "
            "model directory"
        )
    key = str(path)
    with _loaded_guard:
        if key in _loaded:
            _loaded.move_to_end(key)
            return _loaded[key]
    if not path.is_file():
        raise ModelArtifactMissingError(
            f"model {version.id!r}: its saved pipeline {version.artifact_path!r} is missing "
            "from the model directory; train the model again"
        )
    estimator = joblib.load(path)
    with _loaded_guard:
        _loaded[key] = estimator
        while len(_loaded) > _CACHED_MODELS:
            _loaded.popitem(last=False)
    return estimator


def clear_loaded_models() -> None:
    """Forget the estimators kept in memory (the next load reads the files)."""
    with _loaded_guard:
        _loaded.clear()
