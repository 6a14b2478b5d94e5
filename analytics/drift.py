"""Drift: have the customer feature distributions moved away from a reference?

The reference is another dataset or the feature sample a model stored when
it was trained (:func:`analytics.features.describe_reference`). Each feature
is compared on its own, the test chosen by the reference's full row count
(DESIGN.md):

- at most :data:`SMALL_REFERENCE_ROWS` rows: a two-sample Kolmogorov-Smirnov
  test (numeric) or a Pearson chi-square test of homogeneity on the category
  counts (categorical); the feature drifted when ``p < 0.05``.
- more rows: the Wasserstein distance divided by the reference's standard
  deviation (numeric) or the Jensen-Shannon distance, base 2, between the
  category frequencies (categorical); the feature drifted when the distance
  is at least 0.1.

The dataset has drifted when at least half of the tested features have.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sqlmodel import Session

from analytics import charts
from analytics.db import ModelVersion
from analytics.errors import AnalyticsError, DatasetNotFoundError, InvalidArgumentError
from analytics.features import (
    build_customer_features,
    numeric_feature_names,
    reference_features,
)
from analytics.frames import DatasetFrames
from analytics.store import AnalyticsStore

SMALL_REFERENCE_ROWS = 1000
P_VALUE_THRESHOLD = 0.05
DISTANCE_THRESHOLD = 0.1


class FeatureKind(StrEnum):
    NUMERIC = "NUMERIC"
    CATEGORICAL = "CATEGORICAL"


class DriftTest(StrEnum):
    KS = "KS"
    CHI_SQUARE = "CHI_SQUARE"
    WASSERSTEIN = "WASSERSTEIN"
    JENSEN_SHANNON = "JENSEN_SHANNON"


class ReferenceKind(StrEnum):
    DATASET = "DATASET"
    MODEL = "MODEL"


@dataclass(frozen=True)
class FeatureDrift:
    """How one feature compares with the reference.

    ``statistic`` is the KS statistic, the chi-square statistic or the
    (normalised) distance; ``p_value`` is set for the tests and ``distance``
    for the distances. ``test`` is ``None`` when the feature could not be
    compared, and ``reason`` says why. Counts are of non-missing values.
    """

    feature: str
    kind: FeatureKind
    test: DriftTest | None
    statistic: float | None
    p_value: float | None
    distance: float | None
    threshold: float
    drifted: bool
    reference_count: int
    current_count: int
    reference_missing_share: float
    current_missing_share: float
    reason: str | None = None

    @property
    def tested(self) -> bool:
        return self.test is not None


@dataclass(frozen=True)
class DriftResult:
    """Per-feature drift and the verdict for the whole dataset.

    ``missing_features`` are in the reference only, ``new_features`` in the
    current data only; neither is compared. ``drifted_share`` is the share of
    tested features that drifted.
    """

    features: tuple[FeatureDrift, ...]
    tested_count: int
    drifted_count: int
    drifted_share: float
    drifted: bool
    missing_features: tuple[str, ...]
    new_features: tuple[str, ...]
    reference_rows: int
    current_rows: int
    figure: charts.Figure

    @property
    def drifted_features(self) -> tuple[FeatureDrift, ...]:
        return tuple(feature for feature in self.features if feature.drifted)


@dataclass(frozen=True)
class DriftReportResult:
    """A dataset checked against a reference dataset or model version.

    ``reference_version`` is the reference dataset's version or the model's
    version number: with ``dataset_version`` it identifies exactly what was
    compared.
    """

    dataset_id: str
    dataset_version: int
    reference_id: str
    reference_kind: ReferenceKind
    reference_version: int
    result: DriftResult


class DriftReferenceNotFoundError(AnalyticsError, LookupError):
    code = "NOT_FOUND"

    def __init__(self, reference_id: str) -> None:
        super().__init__(f"reference: {reference_id!r} is neither a model version nor a dataset")
        self.reference_id = reference_id


def detect_drift(
    current: pd.DataFrame, reference: pd.DataFrame, *, reference_rows: int | None = None
) -> DriftResult:
    """Compare every feature the two feature frames share.

    Parameters
    ----------
    current : pandas.DataFrame
        Feature frame of the data under test, as built by
        :func:`analytics.features.build_customer_features`: float columns are
        numeric features, any other column is categorical.
    reference : pandas.DataFrame
        Feature frame of the reference, e.g. from
        :func:`analytics.features.reference_features`.
    reference_rows : int, optional
        The reference's full row count when ``reference`` is a sample of it
        (default ``len(reference)``); it chooses tests (at most
        :data:`SMALL_REFERENCE_ROWS`) or distances.

    Returns
    -------
    DriftResult
        Features in the reference's column order. Missing values are left
        out of each comparison and reported as shares; a feature without a
        value on one side, or numeric on one side and categorical on the
        other, is reported untested with a reason.

    Raises
    ------
    InvalidArgumentError
        When the frames share no feature, or no shared feature has values on
        both sides.
    """
    if reference_rows is None:
        reference_rows = len(reference)
    if reference_rows < 0:
        raise InvalidArgumentError(f"reference_rows must be >= 0, got {reference_rows}")
    shared = [name for name in reference.columns if name in current.columns]
    if not shared:
        raise InvalidArgumentError(
            "reference: the data and the reference share no customer feature "
            f"(reference has {_names(reference.columns)}; data has {_names(current.columns)})"
        )
    small = reference_rows <= SMALL_REFERENCE_ROWS
    current_numeric = set(numeric_feature_names(current))
    reference_numeric = set(numeric_feature_names(reference))
    features = tuple(
        _compare_feature(
            name,
            current[name],
            reference[name],
            small=small,
            current_numeric=name in current_numeric,
            reference_numeric=name in reference_numeric,
        )
        for name in shared
    )
    tested = [feature for feature in features if feature.tested]
    if not tested:
        raise InvalidArgumentError(
            "reference: no shared feature has values in both the data and the reference "
            f"({_names(shared)})"
        )
    drifted_count = sum(feature.drifted for feature in tested)
    return DriftResult(
        features=features,
        tested_count=len(tested),
        drifted_count=drifted_count,
        drifted_share=drifted_count / len(tested),
        drifted=2 * drifted_count >= len(tested),
        missing_features=tuple(c for c in reference.columns if c not in current.columns),
        new_features=tuple(c for c in current.columns if c not in reference.columns),
        reference_rows=int(reference_rows),
        current_rows=len(current),
        figure=_figure(features, small=small),
    )


def compare_datasets(
    current_frames: DatasetFrames,
    reference_frames: DatasetFrames,
    *,
    current_as_of: dt.date | None = None,
    reference_as_of: dt.date | None = None,
) -> DriftResult:
    """Drift of one dataset's customer features from another's.

    Parameters
    ----------
    current_frames : DatasetFrames
        The dataset under test.
    reference_frames : DatasetFrames
        The dataset it is compared with.
    current_as_of, reference_as_of : datetime.date, optional
        Analysis date of each dataset's features (recency, tenure); default
        each dataset's own (the day after its latest order).

    Returns
    -------
    DriftResult
        See :func:`detect_drift`; the reference is used in full.

    Raises
    ------
    InvalidArgumentError
        When either dataset has no customer features or they share none.
    """
    current = build_customer_features(current_frames, current_as_of)
    reference = build_customer_features(reference_frames, reference_as_of)
    _require_rows(current, f"dataset: {current_frames.dataset_id!r}")
    _require_rows(reference, f"reference: dataset {reference_frames.dataset_id!r}")
    return detect_drift(current, reference)


def compare_with_model(
    current_frames: DatasetFrames, model_version: ModelVersion, *, as_of: dt.date | None = None
) -> DriftResult:
    """Drift of a dataset's customer features from a model's training features.

    Parameters
    ----------
    current_frames : DatasetFrames
        The dataset under test.
    model_version : ModelVersion
        A model whose ``reference`` holds
        :func:`analytics.features.describe_reference` output; its ``rows``
        (the full training row count) chooses tests or distances.
    as_of : datetime.date, optional
        Analysis date of the dataset's features; default its own.

    Returns
    -------
    DriftResult

    Raises
    ------
    InvalidArgumentError
        When the model stored no reference, the dataset has no customer
        features or they share none.
    """
    stored = model_version.reference or {}
    if not stored.get("columns"):
        raise InvalidArgumentError(
            f"reference: model version {model_version.id!r} stored no feature distribution"
        )
    reference = reference_features(stored)
    current = build_customer_features(current_frames, as_of)
    _require_rows(current, f"dataset: {current_frames.dataset_id!r}")
    return detect_drift(current, reference, reference_rows=int(stored.get("rows", len(reference))))


def find_model_version(store: AnalyticsStore, model_id: str) -> ModelVersion | None:
    """The model version with this id, or ``None``."""
    with Session(store.engine) as session:
        return session.get(ModelVersion, model_id)


def check_drift(store: AnalyticsStore, dataset_id: str, reference_id: str) -> DriftReportResult:
    """Drift of a dataset from a reference model version or dataset, cached.

    Parameters
    ----------
    store : AnalyticsStore
        Where both live; results are cached per dataset version and
        reference (version).
    dataset_id : str
        The dataset under test.
    reference_id : str
        A model version id (looked up first) or a dataset id.

    Returns
    -------
    DriftReportResult

    Raises
    ------
    DatasetNotFoundError
        When ``dataset_id`` does not exist.
    DriftReferenceNotFoundError
        When ``reference_id`` is neither a model version nor a dataset.
    InvalidArgumentError
        See :func:`compare_datasets` and :func:`compare_with_model`.
    """
    dataset_version = store.version(dataset_id)
    model = find_model_version(store, reference_id)
    if model is not None:
        kind, reference_version = ReferenceKind.MODEL, model.version
        key: Hashable = ("drift", "model", model.id, model.fingerprint, model.created_at)
        result = store.compute(dataset_id, key, lambda frames: compare_with_model(frames, model))
    else:
        kind = ReferenceKind.DATASET
        try:
            reference_version = store.version(reference_id)
        except DatasetNotFoundError:
            raise DriftReferenceNotFoundError(reference_id) from None
        key = ("drift", "dataset", reference_id, reference_version)
        result = store.compute(
            dataset_id,
            key,
            lambda frames: compare_datasets(frames, store.frames(reference_id, reference_version)),
        )
    return DriftReportResult(
        dataset_id=dataset_id,
        dataset_version=dataset_version,
        reference_id=reference_id,
        reference_kind=kind,
        reference_version=reference_version,
        result=result,
    )


def _compare_feature(
    name: str,
    current: pd.Series,
    reference: pd.Series,
    *,
    small: bool,
    current_numeric: bool,
    reference_numeric: bool,
) -> FeatureDrift:
    numeric = current_numeric and reference_numeric
    current_values = _values(current, numeric=numeric)
    reference_values = _values(reference, numeric=numeric)
    untested = FeatureDrift(
        feature=name,
        kind=FeatureKind.NUMERIC if numeric else FeatureKind.CATEGORICAL,
        test=None,
        statistic=None,
        p_value=None,
        distance=None,
        threshold=P_VALUE_THRESHOLD if small else DISTANCE_THRESHOLD,
        drifted=False,
        reference_count=len(reference_values),
        current_count=len(current_values),
        reference_missing_share=_missing_share(len(reference_values), len(reference)),
        current_missing_share=_missing_share(len(current_values), len(current)),
    )
    if current_numeric != reference_numeric:
        side = "reference" if reference_numeric else "data"
        return replace(untested, reason=f"numeric in the {side} only: the kinds differ")
    if len(reference_values) == 0 or len(current_values) == 0:
        side = "reference" if len(reference_values) == 0 else "data"
        return replace(untested, reason=f"no value in the {side}")

    if small:
        test = DriftTest.KS if numeric else DriftTest.CHI_SQUARE
        compare = _ks if numeric else _chi_square
        statistic, p_value = compare(reference_values, current_values)
        return replace(
            untested,
            test=test,
            statistic=statistic,
            p_value=p_value,
            drifted=p_value < P_VALUE_THRESHOLD,
        )
    test = DriftTest.WASSERSTEIN if numeric else DriftTest.JENSEN_SHANNON
    measure = _normalised_wasserstein if numeric else _jensen_shannon
    distance = measure(reference_values, current_values)
    return replace(
        untested,
        test=test,
        statistic=distance,
        distance=distance,
        drifted=distance >= DISTANCE_THRESHOLD,
    )


def _values(series: pd.Series, *, numeric: bool) -> np.ndarray:
    """The non-missing values: finite floats, or category labels as text."""
    if numeric:
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        return values[np.isfinite(values)]
    present = series[series.notna()]
    return present.astype(str).to_numpy(dtype=object)


def _missing_share(present: int, total: int) -> float:
    return (total - present) / total if total else 0.0


def _ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    with warnings.catch_warnings():
        # scipy falls back to the asymptotic p-value when the exact one fails; either is fine.
        warnings.filterwarnings("ignore", message="ks_2samp: Exact calculation unsuccessful")
        result = stats.ks_2samp(reference, current)
    return float(result.statistic), float(result.pvalue)


def _normalised_wasserstein(reference: np.ndarray, current: np.ndarray) -> float:
    """Wasserstein-1 distance in units of the reference's standard deviation (ddof 0).

    A constant reference has no spread to measure by; the pooled standard
    deviation stands in, which is zero only when both sides are the same
    constant (distance 0).
    """
    distance = float(stats.wasserstein_distance(reference, current))
    scale = float(np.std(reference))
    if scale == 0.0:
        scale = float(np.std(np.concatenate([reference, current])))
    return distance / scale if scale > 0.0 else 0.0


def _category_counts(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """A 2 x categories table of counts (reference row first) over both sides' categories."""
    table = pd.DataFrame(
        {
            "reference": pd.Series(reference).value_counts(),
            "current": pd.Series(current).value_counts(),
        }
    ).fillna(0)
    return table.to_numpy(dtype="float64").T


def _chi_square(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-square test of homogeneity, without Yates' correction."""
    table = _category_counts(reference, current)
    if table.shape[1] == 1:
        return 0.0, 1.0  # one category on both sides: identical distributions
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def _jensen_shannon(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, so 0..1) between the category frequencies."""
    table = _category_counts(reference, current)
    distance = float(jensenshannon(table[0], table[1], base=2))
    # Rounding can make the divergence of equal distributions slightly negative.
    return distance if math.isfinite(distance) else 0.0


def _require_rows(features: pd.DataFrame, label: str) -> None:
    if features.empty or features.columns.empty:
        raise InvalidArgumentError(f"{label} has no customer features to compare")


def _names(columns: Iterable[object]) -> str:
    names = list(columns)
    return ", ".join(map(str, names)) if names else "none"


def _figure(features: tuple[FeatureDrift, ...], *, small: bool) -> charts.Figure:
    """Each tested feature's p-value or distance against the threshold, red when it drifted."""
    tested = [feature for feature in features if feature.tested]
    values = [feature.p_value if small else feature.distance for feature in tested]
    threshold = P_VALUE_THRESHOLD if small else DISTANCE_THRESHOLD
    measure = "p-value" if small else "distance"
    bars = go.Bar(
        x=[feature.feature for feature in tested],
        y=values,
        marker={"color": ["#d62728" if f.drifted else "#2ca02c" for f in tested]},
        customdata=[
            [f.test.value if f.test else "", "drifted" if f.drifted else "stable"] for f in tested
        ],
        hovertemplate="%{x}<br>%{customdata[0]} " + measure + " %{y:.4g}<br>%{customdata[1]}"
        "<extra></extra>",
        name=measure,
    )
    rule = "drifted below" if small else "drifted at or above"
    fig = go.Figure(
        data=[bars],
        layout={
            "title": {"text": f"Feature drift ({measure}; {rule} {threshold:g})"},
            "xaxis": {"title": {"text": "feature"}},
            "yaxis": {"title": {"text": measure}, "rangemode": "tozero"},
            "template": "plotly_white",
            "shapes": [
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "y0": threshold,
                    "y1": threshold,
                    "line": {"dash": "dash", "color": "#7f7f7f"},
                }
            ],
        },
    )
    return charts.figure_to_dict(fig)
