"""The model registry on SQLite and PostgreSQL: versions, artifacts, restarts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from analytics import models
from analytics.db import create_db_engine, create_tables
from analytics.models import (
    ModelArtifactMissingError,
    ModelNotFoundError,
    TrainedModel,
    clear_loaded_models,
    fingerprint_features,
    get_model_version,
    json_safe,
    latest_model_version,
    list_model_versions,
    load_model,
    save_model_version,
)
from analytics.segmentation import SegmentationMethod, fit_segmentation
from analytics.worker import run_with_timeout
from tests.analytics.test_segmentation import two_groups


@pytest.fixture(scope="module")
def trained() -> TrainedModel:
    return fit_segmentation(two_groups(), SegmentationMethod.KMEANS)


def save(
    engine: Engine,
    model_dir: Path,
    trained: TrainedModel,
    dataset_id: str = "shop",
    method: str = "kmeans",
    dataset_version: int = 1,
) -> models.ModelVersion:
    return save_model_version(
        engine,
        model_dir,
        dataset_id=dataset_id,
        dataset_version=dataset_version,
        kind="segmentation",
        method=method,
        trained=trained,
    )


def test_versions_count_up_per_dataset_kind_and_method(
    engine: Engine, tmp_path: Path, trained: TrainedModel
) -> None:
    first = save(engine, tmp_path, trained)
    second = save(engine, tmp_path, trained, dataset_version=2)
    dbscan = save(engine, tmp_path, trained, method="dbscan")
    other = save(engine, tmp_path, trained, dataset_id="other")

    assert [first.version, second.version, dbscan.version, other.version] == [1, 2, 1, 1]
    assert first.features == list(trained.features)
    assert first.metrics == trained.metrics
    assert first.params == trained.params
    assert first.fingerprint == trained.fingerprint
    assert first.reference["rows"] == 12
    assert first.artifact_path == f"{first.id}.joblib"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{m.id}.joblib" for m in (first, second, dbscan, other)
    )
    listed = list_model_versions(engine)
    assert {m.id for m in listed} == {first.id, second.id, dbscan.id, other.id}
    created = [m.created_at for m in listed]
    assert created == sorted(created, reverse=True)
    assert [m.id for m in list_model_versions(engine, dataset_id="shop", method="kmeans")] == [
        second.id,
        first.id,
    ]
    assert list_model_versions(engine, kind="churn") == []
    assert latest_model_version(engine, "shop", "segmentation", "kmeans") == second
    latest_v1 = latest_model_version(engine, "shop", "segmentation", "kmeans", dataset_version=1)
    assert latest_v1 == first
    assert latest_model_version(engine, "shop", "segmentation", "kmeans", dataset_version=3) is None
    assert get_model_version(engine, dbscan.id) == dbscan


def test_an_unknown_model_is_not_found(engine: Engine) -> None:
    with pytest.raises(ModelNotFoundError, match="model 'nope' does not exist") as raised:
        get_model_version(engine, "nope")
    assert raised.value.code == "NOT_FOUND"


def test_a_failed_insert_leaves_no_file(
    engine: Engine, tmp_path: Path, trained: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(models, "_insert_next_version", refuse)

    with pytest.raises(sa.exc.OperationalError):
        save(engine, tmp_path, trained)
    assert list(tmp_path.iterdir()) == []
    assert list_model_versions(engine) == []


def test_an_unpicklable_model_leaves_nothing(engine: Engine, tmp_path: Path) -> None:
    broken = TrainedModel(lambda x: x, {}, ("a",), {}, {}, "0" * 64)

    with pytest.raises(Exception, match="lambda"):
        save(engine, tmp_path, broken)
    assert list(tmp_path.iterdir()) == []
    assert list_model_versions(engine) == []


def test_metrics_with_nan_are_stored_as_null(engine: Engine, tmp_path: Path) -> None:
    trained = TrainedModel(
        estimator={"weights": [1, 2]},
        params={"eps": np.float64(0.5), "k": np.int64(3)},
        features=("a",),
        metrics={"silhouette": math.nan, "sizes": {0: 3}, "by_k": (np.float64(np.inf),)},
        reference={},
        fingerprint="0" * 64,
    )

    stored = save(engine, tmp_path, trained)

    assert stored.params == {"eps": 0.5, "k": 3}
    assert stored.metrics == {"silhouette": None, "sizes": {"0": 3}, "by_k": [None]}
    assert json_safe([np.nan, np.int32(2)]) == [None, 2]


def predict_after_restart(url: str, model_dir: str, table: pd.DataFrame) -> list[tuple[str, int]]:
    """In a fresh process: open the database, list the versions, load each and predict."""
    fresh = create_db_engine(url)
    try:
        found = list_model_versions(fresh)
        return [
            (version.id, int(label))
            for version in found
            for label in load_model(Path(model_dir), version).predict(table[version.features])
        ]
    finally:
        fresh.dispose()


def test_models_survive_a_restart(engine: Engine, tmp_path: Path, trained: TrainedModel) -> None:
    table = two_groups()[list(trained.features)]
    stored = save(engine, tmp_path, trained)
    before = load_model(tmp_path, stored).predict(table)

    engine.dispose()
    clear_loaded_models()
    listed = list_model_versions(engine)
    after = load_model(tmp_path, listed[0]).predict(table)

    assert [m.id for m in listed] == [stored.id]
    assert listed[0] == stored
    np.testing.assert_array_equal(after, before)
    np.testing.assert_array_equal(before, trained.estimator.predict(table))


def test_models_survive_a_new_process(tmp_path: Path, trained: TrainedModel) -> None:
    url = f"sqlite:///{tmp_path / 'salescope.db'}"
    engine = create_db_engine(url)
    models_dir = tmp_path / "models"
    create_tables(engine)
    stored = save(engine, models_dir, trained)
    table = two_groups()[list(trained.features)]
    expected = trained.estimator.predict(table)
    engine.dispose()

    predicted = run_with_timeout(predict_after_restart, url, str(models_dir), table, timeout=60)

    assert predicted == [(stored.id, int(label)) for label in expected]


def test_fingerprint_is_stable_and_sensitive() -> None:
    table = two_groups()[["recency", "frequency", "monetary"]]

    first = fingerprint_features(table)

    assert len(first) == 64
    assert fingerprint_features(table.copy()) == first
    assert run_with_timeout(fingerprint_features, table, timeout=60) == first
    changed = table.copy()
    changed.iloc[3, 2] += 0.01
    assert fingerprint_features(changed) != first
    assert fingerprint_features(table[["frequency", "recency", "monetary"]]) != first
    assert fingerprint_features(table.set_axis(table.index + 1)) != first
    assert fingerprint_features(table.rename(columns={"monetary": "revenue"})) != first


def test_missing_or_foreign_artifacts_are_clear_errors(
    engine: Engine, tmp_path: Path, trained: TrainedModel
) -> None:
    stored = save(engine, tmp_path, trained)
    (tmp_path / stored.artifact_path).unlink()
    clear_loaded_models()

    with pytest.raises(ModelArtifactMissingError, match="is missing from the model directory"):
        load_model(tmp_path, stored)
    outside = stored.model_copy(update={"artifact_path": "../elsewhere.joblib"})
    with pytest.raises(ModelArtifactMissingError, match="outside the model directory"):
        load_model(tmp_path, outside)
