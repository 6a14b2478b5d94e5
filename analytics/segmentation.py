"""Customer segments: RFM segments, K-means and DBSCAN clusters, profiled and labelled.

Clusters are found on the numeric customer features of
:mod:`analytics.features`: recency, frequency and monetary value when the
dataset has orders (put through a signed ``log1p``, since monetary value can
be negative after returns), tenure, satisfaction and the numeric columns of
an uploaded customer table. Each is median-imputed and standardised in one
scikit-learn pipeline, whose last step is

- :class:`SilhouetteKMeans`: K-means, ``k`` chosen by the silhouette over
  ``2..min(10, n - 1)`` unless given;
- :class:`SampledDBSCAN`: DBSCAN with ``eps`` at the knee of the k-distance
  curve unless given, which can also assign new customers.

Segments are profiled (size, mean R/F/M, revenue share) and named from how
their median customer compares with everyone ("High value, recent,
frequent"). Method RFM returns the named R/F-grid segments of
:mod:`analytics.rfm` in the same shape.

Fits run single-threaded: the server runs several at once on few cores, and
OpenMP threads competing for busy cores make K-means ten times slower.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import sklearn
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import DBSCAN, KMeans
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from analytics import charts
from analytics.db import ModelVersion
from analytics.errors import InvalidArgumentError
from analytics.features import (
    RFM_FEATURES,
    build_customer_features,
    describe_reference,
    numeric_feature_names,
)
from analytics.frames import DatasetFrames
from analytics.models import (
    TrainedModel,
    fingerprint_features,
    get_model_version,
    json_safe,
    latest_model_version,
    load_model,
    save_model_version,
)
from analytics.rfm import SEGMENTS, score_rfm
from analytics.store import AnalyticsStore
from analytics.worker import run_with_timeout

SEGMENTATION_KIND = "segmentation"
# K-means and DBSCAN need a few customers per cluster to mean anything.
MIN_CUSTOMERS = 10
MAX_CLUSTERS = 10
# k is chosen on a fixed sample of this many customers, then fitted on all.
SEARCH_SAMPLE = 20_000
# silhouette_score is quadratic in its input, so it scores a fixed sample.
SILHOUETTE_SAMPLE = 5_000
# DBSCAN's neighbourhood queries grow faster than linearly (and hold every
# neighbourhood in memory), so it is fitted on a fixed sample; every
# customer is then assigned by the nearest core sample.
DBSCAN_SAMPLE = 20_000
FIGURE_POINTS = 3_000
MAX_PREDICT_CUSTOMERS = 10_000

NOISE = -1
NOISE_LABEL = "Noise / outliers"
TYPICAL_LABEL = "Typical customers"
# A segment is high (low) on a feature when its median customer is in the
# top (bottom) third of all customers.
_HIGH, _LOW = 2 / 3, 1 / 3


class SegmentationMethod(StrEnum):
    RFM = "RFM"
    KMEANS = "KMEANS"
    DBSCAN = "DBSCAN"

    @property
    def model_method(self) -> str:
        """The name stored in ``ModelVersion.method``."""
        return self.value.lower()


def signed_log1p(values: Any) -> Any:
    """``sign(x) * log(1 + |x|)``: a log scale that keeps zero and negative values."""
    return np.sign(values) * np.log1p(np.abs(values))


def find_knee(values: np.ndarray) -> int:
    """Index of the knee of an ascending curve (e.g. sorted k-distances).

    Both axes are scaled to 0..1 and the knee is the point farthest below
    the chord from the first to the last point: the largest ``x - y``, as in
    the difference curve of Kneedle (Satopää et al., 2011). The first such
    point wins a tie; a flat curve has its knee at the end.
    """
    values = np.asarray(values, dtype="float64")
    if values.ndim != 1 or len(values) == 0:
        raise ValueError("values: expected a non-empty 1-d array")
    if len(values) == 1:
        return 0
    span = values[-1] - values[0]
    x = np.linspace(0.0, 1.0, len(values))
    y = (values - values[0]) / span if span > 0 else np.zeros(len(values))
    return int(np.argmax(x - y))


def k_distances(points: np.ndarray, k: int) -> np.ndarray:
    """Each point's distance to its ``k``-th nearest point, itself counted first, sorted.

    A point is a DBSCAN core point with ``min_samples=k`` exactly when this
    distance is at most ``eps``.
    """
    distances, _ = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(points)
    return np.sort(distances[:, k - 1])


def default_min_samples(customers: int, dimensions: int) -> int:
    """DBSCAN's ``min_samples``: twice the dimensions (Sander et al., 1998), fewer when tiny.

    At most a tenth of the customers, and at least 3.
    """
    return max(3, min(2 * dimensions, customers // 10))


def _sample_rows(count: int, size: int, random_state: Any) -> np.ndarray:
    """Sorted indices of a fixed random sample of ``size`` of ``count`` rows (all when fewer)."""
    if count <= size:
        return np.arange(count)
    return np.sort(check_random_state(random_state).choice(count, size, replace=False))


def _silhouette(points: np.ndarray, labels: np.ndarray, sample: int, random_state: Any) -> float:
    """Mean silhouette on a fixed sample; NaN when it is undefined (one cluster)."""
    rows = _sample_rows(len(points), sample, random_state)
    points, labels = points[rows], labels[rows]
    clusters = len(np.unique(labels))
    if not 2 <= clusters <= len(points) - 1:
        return math.nan
    return float(silhouette_score(points, labels))


class SilhouetteKMeans(ClusterMixin, BaseEstimator):
    """K-means whose number of clusters, unless given, maximises the silhouette.

    Parameters
    ----------
    n_clusters : int, optional
        Use this ``k``; by default try ``2..min(max_clusters, n - 1)`` (and no
        more than the distinct points) and keep the ``k`` with the highest
        mean silhouette, the smaller ``k`` on a tie.
    max_clusters : int
        Largest ``k`` tried.
    n_init : int
        K-means restarts per fit.
    search_sample : int
        ``k`` is chosen on a fixed random sample of this many points; the
        final model is fitted on all of them.
    silhouette_sample : int
        Points the silhouette is computed on (the same sample for every ``k``).
    random_state : int
        Seed of the samples and of K-means.

    Attributes
    ----------
    n_clusters_ : int
    silhouette_scores_ : dict[int, float]
        Silhouette of each ``k`` tried (empty when ``n_clusters`` was given).
    kmeans_ : KMeans
    labels_ : ndarray
    cluster_centers_ : ndarray
    """

    def __init__(
        self,
        n_clusters: int | None = None,
        max_clusters: int = MAX_CLUSTERS,
        n_init: int = 4,
        search_sample: int = SEARCH_SAMPLE,
        silhouette_sample: int = SILHOUETTE_SAMPLE,
        random_state: int = 0,
    ) -> None:
        self.n_clusters = n_clusters
        self.max_clusters = max_clusters
        self.n_init = n_init
        self.search_sample = search_sample
        self.silhouette_sample = silhouette_sample
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> SilhouetteKMeans:
        points = check_array(X, dtype="float64")
        scores: dict[int, float] = {}
        if self.n_clusters is not None:
            distinct = len(np.unique(points, axis=0))
            if not 2 <= self.n_clusters <= distinct:
                raise InvalidArgumentError(
                    f"n_clusters: must be 2..{distinct} (the distinct customers), "
                    f"got {self.n_clusters}"
                )
            chosen = self.n_clusters
        else:
            search = points[_sample_rows(len(points), self.search_sample, self.random_state)]
            distinct = len(np.unique(search, axis=0))
            largest = min(self.max_clusters, len(search) - 1, distinct)
            if largest < 2:
                raise InvalidArgumentError(
                    "dataset: the customers' features are all the same; there are no "
                    "clusters to find"
                )
            for k in range(2, largest + 1):
                labels = self._kmeans(k).fit_predict(search)
                score = _silhouette(search, labels, self.silhouette_sample, self.random_state)
                if not math.isnan(score):
                    scores[k] = score
            chosen = max(scores, key=lambda k: (scores[k], -k)) if scores else 2
        self.silhouette_scores_ = scores
        self.kmeans_ = self._kmeans(chosen).fit(points)
        self.n_clusters_ = chosen
        self.labels_ = self.kmeans_.labels_
        self.cluster_centers_ = self.kmeans_.cluster_centers_
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "kmeans_")
        labels: np.ndarray = self.kmeans_.predict(check_array(X, dtype="float64"))
        return labels

    def _kmeans(self, k: int) -> KMeans:
        return KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)


class SampledDBSCAN(ClusterMixin, BaseEstimator):
    """DBSCAN that scales to many points and can assign new ones.

    DBSCAN runs on a fixed random sample of at most ``max_samples`` points.
    Every point, new or seen, then joins the cluster of its nearest core
    sample when that is within ``eps``, and is noise (-1) otherwise; core
    samples keep their own cluster, so on the sample the result is DBSCAN's
    except that a border point reachable from two clusters joins the nearer.

    Parameters
    ----------
    eps : float, optional
        Neighbourhood radius; by default the knee of the sample's sorted
        k-distances (k = ``min_samples``, see :func:`find_knee`).
    min_samples : int, optional
        Points within ``eps`` (itself included) that make a core point; by
        default :func:`default_min_samples`.
    max_samples : int
        Largest sample DBSCAN itself runs on.
    random_state : int
        Seed of the sample.

    Attributes
    ----------
    eps_ : float
    min_samples_ : int
    n_fit_samples_ : int
        Points DBSCAN ran on.
    core_samples_ : ndarray
    core_labels_ : ndarray
    nearest_core_ : NearestNeighbors or None
        ``None`` when there is no core sample (everything is noise).
    labels_ : ndarray
        The assignment of every point passed to ``fit``.
    n_clusters_ : int
    """

    def __init__(
        self,
        eps: float | None = None,
        min_samples: int | None = None,
        max_samples: int = DBSCAN_SAMPLE,
        random_state: int = 0,
    ) -> None:
        self.eps = eps
        self.min_samples = min_samples
        self.max_samples = max_samples
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> SampledDBSCAN:
        points = check_array(X, dtype="float64")
        sample = points[_sample_rows(len(points), self.max_samples, self.random_state)]
        min_samples = self.min_samples
        if min_samples is None:
            min_samples = default_min_samples(len(sample), sample.shape[1])
        if not 2 <= min_samples <= len(sample):
            raise InvalidArgumentError(
                f"min_samples: must be 2..{len(sample)} (the customers), got {min_samples}"
            )
        if self.eps is None:
            distances = k_distances(sample, min_samples)
            eps = float(distances[find_knee(distances)])
            if eps <= 0:
                positive = distances[distances > 0]
                if not positive.size:
                    raise InvalidArgumentError(
                        "dataset: the customers' features are all the same; there are no "
                        "clusters to find"
                    )
                eps = float(positive[0])
        elif not self.eps > 0:
            raise InvalidArgumentError(f"eps: must be positive, got {self.eps}")
        else:
            eps = float(self.eps)
        fitted = DBSCAN(eps=eps, min_samples=min_samples).fit(sample)
        core = fitted.core_sample_indices_
        self.eps_ = eps
        self.min_samples_ = min_samples
        self.n_fit_samples_ = len(sample)
        self.core_samples_ = sample[core]
        self.core_labels_ = fitted.labels_[core]
        self.nearest_core_ = (
            NearestNeighbors(n_neighbors=1).fit(sample[core]) if len(core) else None
        )
        self.n_clusters_ = len(np.unique(self.core_labels_))
        self.labels_ = self.predict(points)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "core_labels_")
        points = check_array(X, dtype="float64")
        if self.nearest_core_ is None:
            return np.full(len(points), NOISE)
        distances, nearest = self.nearest_core_.kneighbors(points, n_neighbors=1)
        labels: np.ndarray = np.where(
            distances[:, 0] <= self.eps_, self.core_labels_[nearest[:, 0]], NOISE
        )
        return labels


def build_pipeline(features: Sequence[str], clusterer: Any) -> Pipeline:
    """Signed log1p of the RFM columns, median imputation, standard scaling, then ``clusterer``.

    The pipeline takes a frame with the ``features`` columns.
    """
    log_columns = [name for name in features if name in RFM_FEATURES]
    other_columns = [name for name in features if name not in RFM_FEATURES]
    transformers: list[tuple[str, Any, list[str]]] = []
    if log_columns:
        log_scale = make_pipeline(
            SimpleImputer(strategy="median"),
            FunctionTransformer(signed_log1p, feature_names_out="one-to-one"),
        )
        transformers.append(("log", log_scale, log_columns))
    if other_columns:
        transformers.append(("numeric", SimpleImputer(strategy="median"), other_columns))
    return Pipeline(
        [
            ("features", ColumnTransformer(transformers)),
            ("scale", StandardScaler()),
            ("cluster", clusterer),
        ]
    )


def segmentation_table(features: pd.DataFrame) -> pd.DataFrame:
    """The numeric columns of a customer feature frame, infinities as missing.

    Raises
    ------
    InvalidArgumentError
        When there is no numeric feature or fewer than :data:`MIN_CUSTOMERS` customers.
    """
    columns = numeric_feature_names(features)
    if not columns:
        raise InvalidArgumentError(
            "dataset: no numeric customer features to segment on; segmentation needs orders "
            "or numeric customer columns (such as tenure or monthly charges)"
        )
    if len(features) < MIN_CUSTOMERS:
        raise InvalidArgumentError(
            f"dataset: only {len(features)} customers have features (customers who ordered, "
            f"or rows of a customer table); K-means and DBSCAN need at least {MIN_CUSTOMERS}. "
            "Use method RFM for small datasets"
        )
    return features[columns].replace([np.inf, -np.inf], np.nan).astype("float64")


def fit_segmentation(
    features: pd.DataFrame,
    method: SegmentationMethod,
    n_clusters: int | None = None,
    eps: float | None = None,
    min_samples: int | None = None,
    random_state: int = 0,
) -> TrainedModel:
    """Fit a K-means or DBSCAN segmentation of customers.

    A module-level function so that it can run in a worker process
    (:func:`analytics.worker.run_with_timeout`); it writes nothing.

    Parameters
    ----------
    features : DataFrame
        :func:`analytics.features.build_customer_features` output, indexed by
        ``customer_id``; its numeric columns are the model's features.
    method : SegmentationMethod
        ``KMEANS`` or ``DBSCAN``.
    n_clusters : int, optional
        K-means ``k``; chosen by silhouette when omitted.
    eps, min_samples : float, int, optional
        DBSCAN parameters; ``eps`` from the k-distance knee when omitted.
    random_state : int
        Seed of every sample and of K-means.

    Returns
    -------
    TrainedModel
        The fitted pipeline, its params, the segment labels and sizes in
        ``metrics["segments"]``, the silhouette and the training reference.

    Raises
    ------
    InvalidArgumentError
        Too few customers, no numeric feature, identical customers or a bad parameter.
    """
    table = segmentation_table(features)
    columns = list(table.columns)
    clusterer: SilhouetteKMeans | SampledDBSCAN
    if method is SegmentationMethod.KMEANS:
        clusterer = SilhouetteKMeans(n_clusters=n_clusters, random_state=random_state)
    elif method is SegmentationMethod.DBSCAN:
        clusterer = SampledDBSCAN(eps=eps, min_samples=min_samples, random_state=random_state)
    else:
        raise InvalidArgumentError(
            f"method: {method} segments are rules, not a fitted model; use KMEANS or DBSCAN"
        )
    with threadpool_limits(limits=1):
        pipeline = build_pipeline(columns, clusterer).fit(table)
        scaled = pipeline[:-1].transform(table)
        labels = clusterer.predict(scaled)
        clustered = labels != NOISE
        silhouette = _silhouette(
            scaled[clustered], labels[clustered], SILHOUETTE_SAMPLE, random_state
        )
    segment_ids = labels.astype("str")
    names = label_segments(features, segment_ids)
    sizes = Counter(segment_ids.tolist())
    order = _cluster_order(sizes)
    params: dict[str, Any] = {
        "features": columns,
        "log_features": [name for name in columns if name in RFM_FEATURES],
        "imputation": "median",
        "scaling": "standard",
        # Features some training customers lacked: a prediction may omit them too.
        "optional_features": [name for name in columns if table[name].isna().any()],
        "random_state": random_state,
        "sklearn_version": sklearn.__version__,
    }
    metrics: dict[str, Any] = {
        "customers": len(table),
        "n_clusters": len(np.unique(labels[clustered])),
        "silhouette": silhouette,
        "cluster_sizes": {segment: sizes[segment] for segment in order},
        "segments": [
            {
                "id": segment,
                "label": names[segment],
                "size": sizes[segment],
                "share": sizes[segment] / len(table),
            }
            for segment in order
        ],
    }
    if isinstance(clusterer, SilhouetteKMeans):
        params.update(
            n_clusters=clusterer.n_clusters_,
            n_clusters_chosen_by="given" if n_clusters is not None else "silhouette",
            k_range=[2, max(clusterer.silhouette_scores_, default=clusterer.n_clusters_)],
            n_init=clusterer.n_init,
            search_sample=min(len(table), clusterer.search_sample),
        )
        metrics["silhouette_by_k"] = {str(k): s for k, s in clusterer.silhouette_scores_.items()}
        metrics["inertia"] = float(clusterer.kmeans_.inertia_)
    else:
        noise = int((~clustered).sum())
        params.update(
            eps=clusterer.eps_,
            eps_chosen_by="given" if eps is not None else "k-distance knee",
            min_samples=clusterer.min_samples_,
            fit_sample=clusterer.n_fit_samples_,
        )
        metrics.update(
            noise=noise, noise_share=noise / len(table), core_samples=len(clusterer.core_labels_)
        )
    return TrainedModel(
        estimator=pipeline,
        params=json_safe(params),
        features=tuple(columns),
        metrics=json_safe(metrics),
        reference=describe_reference(features, random_state=random_state),
        fingerprint=fingerprint_features(table),
    )


def _cluster_order(sizes: Mapping[str, int]) -> list[str]:
    """Largest cluster first (ties by id), noise last."""
    clusters = [segment for segment in sizes if segment != str(NOISE)]
    ordered = sorted(clusters, key=lambda segment: (-sizes[segment], int(segment)))
    return ordered + ([str(NOISE)] if str(NOISE) in sizes else [])


def _pretty(feature: str) -> str:
    return feature.replace("_", " ")


def _percentiles(features: pd.DataFrame, segment_ids: np.ndarray) -> pd.DataFrame:
    """Where each segment's median lies among all customers (0..1), per numeric feature."""
    columns = numeric_feature_names(features)
    medians = features[columns].groupby(segment_ids).median()
    result = pd.DataFrame(index=medians.index, columns=columns, dtype="float64")
    for name in columns:
        values = np.sort(features[name].dropna().to_numpy(dtype="float64"))
        median = medians[name].to_numpy()
        below = np.searchsorted(values, median, side="left")
        at_or_below = np.searchsorted(values, median, side="right")
        result[name] = (below + at_or_below) / 2 / max(len(values), 1)
        result.loc[medians[name].isna(), name] = np.nan
    return result


def _level(percentile: float) -> str | None:
    if percentile >= _HIGH:
        return "high"
    if percentile <= _LOW:
        return "low"
    return None


def label_segments(features: pd.DataFrame, segment_ids: np.ndarray) -> dict[str, str]:
    """A short, unique human label for each segment.

    A segment is *high* on a feature when its median customer is in the top
    third of all customers and *low* when in the bottom third. With
    recency, frequency and monetary value the label reads
    ``"<High|Mid|Low> value[, recent|, lapsed][, frequent|, infrequent]"``;
    without them it names the (up to two) features the segment is most
    extreme on, e.g. ``"High tenure, low monthly charges"``, or
    :data:`TYPICAL_LABEL`. Noise (``"-1"``) is :data:`NOISE_LABEL`. Segments
    that would share a label get their most distinctive other feature in
    parentheses, then a number if still needed.
    """
    segment_ids = np.asarray(segment_ids, dtype="str")
    percentiles = _percentiles(features, segment_ids)
    has_rfm = all(name in percentiles.columns for name in RFM_FEATURES)
    labels: dict[str, str] = {}
    used: dict[str, set[str]] = {}
    for segment, row in percentiles.iterrows():
        segment = str(segment)
        if segment == str(NOISE):
            labels[segment] = NOISE_LABEL
            used[segment] = set()
            continue
        if has_rfm:
            value = {"high": "High value", "low": "Low value"}.get(
                _level(row["monetary"]) or "", "Mid value"
            )
            words = [value]
            words += [{"high": "lapsed", "low": "recent"}.get(_level(row["recency"]) or "", "")]
            words += [
                {"high": "frequent", "low": "infrequent"}.get(_level(row["frequency"]) or "", "")
            ]
            labels[segment] = ", ".join(word for word in words if word)
            used[segment] = set(RFM_FEATURES)
        else:
            extreme = (row - 0.5).abs().dropna().sort_values(ascending=False, kind="stable")
            picked = [name for name in extreme.index if _level(row[name])][:2]
            parts = [f"{_level(row[name])} {_pretty(name)}" for name in picked]
            labels[segment] = ", ".join(parts).capitalize() if parts else TYPICAL_LABEL
            used[segment] = set(picked)
    sizes = Counter(segment_ids.tolist())
    largest_first = sorted(labels, key=lambda segment: (-sizes[segment], segment))
    return _unique_labels(labels, percentiles, used, largest_first)


def _clashing(labels: Mapping[str, str]) -> set[str]:
    counts = Counter(labels.values())
    return {segment for segment, label in labels.items() if counts[label] > 1}


def _unique_labels(
    labels: dict[str, str],
    percentiles: pd.DataFrame,
    used: Mapping[str, set[str]],
    order: Sequence[str],
) -> dict[str, str]:
    result = dict(labels)
    for segment in _clashing(labels):
        row = percentiles.loc[segment].drop(labels=list(used[segment]), errors="ignore")
        extreme = (row - 0.5).abs().dropna().sort_values(ascending=False, kind="stable")
        if not extreme.empty and extreme.iloc[0] > 0:
            name = str(extreme.index[0])
            direction = "high" if row[name] > 0.5 else "low"
            result[segment] = f"{labels[segment]} ({direction} {_pretty(name)})"
    # Still the same: the larger segment keeps the label, the others are numbered.
    still = _clashing(result)
    seen: Counter[str] = Counter()
    for segment in [s for s in order if s in still]:
        seen[result[segment]] += 1
        if seen[result[segment]] > 1:
            result[segment] = f"{result[segment]} {seen[result[segment]]}"
    return result


@dataclass(frozen=True)
class SegmentProfile:
    """One segment: its size and what its customers look like on average."""

    segment_id: str
    label: str
    size: int
    share: float
    mean_recency: float | None
    mean_frequency: float | None
    mean_monetary: float | None
    revenue_share: float | None
    feature_means: tuple[tuple[str, float | None], ...]


@dataclass(frozen=True)
class CustomerSegmentResult:
    segment_id: str
    label: str
    method: SegmentationMethod
    model_id: str | None


@dataclass(frozen=True)
class SegmentationResult:
    """The segments of a dataset's customers by one method.

    ``customers`` is indexed by ``customer_id`` with ``external_id``,
    ``segment_id``, ``label`` and the features. ``model_id`` names the stored
    model that assigned the segments, ``None`` when they were fitted on the fly
    (or are RFM segments). ``metrics`` and ``params`` are JSON-safe.
    """

    dataset_id: str
    dataset_version: int
    method: SegmentationMethod
    features: tuple[str, ...]
    segments: tuple[SegmentProfile, ...]
    customers: pd.DataFrame
    metrics: dict[str, Any]
    params: dict[str, Any]
    model_id: str | None = None
    model_version: int | None = None

    @property
    def customer_count(self) -> int:
        return len(self.customers)

    @property
    def silhouette(self) -> float | None:
        value = self.metrics.get("silhouette")
        return None if value is None else float(value)

    @cached_property
    def _by_external_id(self) -> dict[str, tuple[str, str]]:
        frame = self.customers
        return dict(
            zip(
                frame["external_id"].astype("str"),
                zip(frame["segment_id"], frame["label"], strict=True),
                strict=True,
            )
        )

    def segment_of(self, external_id: str) -> CustomerSegmentResult | None:
        """The segment of the customer with this source id, ``None`` when not segmented."""
        found = self._by_external_id.get(external_id)
        if found is None:
            return None
        return CustomerSegmentResult(found[0], found[1], self.method, self.model_id)

    @cached_property
    def figure(self) -> charts.Figure:
        """Customers on two features (recency vs monetary when known) coloured by segment."""
        return _scatter_figure(self)

    @cached_property
    def size_figure(self) -> charts.Figure:
        """Bar chart of customers per segment."""
        return charts.bar_figure(
            [segment.label for segment in self.segments],
            [segment.size for segment in self.segments],
            title=f"Customers per segment ({_METHOD_NAMES[self.method]})",
            x_title="Segment",
            y_title="Customers",
        )


_METHOD_NAMES = {
    SegmentationMethod.RFM: "RFM",
    SegmentationMethod.KMEANS: "K-means",
    SegmentationMethod.DBSCAN: "DBSCAN",
}


def _label_of(labels: Mapping[str, str], segment: str) -> str:
    """A segment's label; one the model never saw is noise or "Segment <id>"."""
    return labels.get(segment, NOISE_LABEL if segment == str(NOISE) else f"Segment {segment}")


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def profile_segments(
    features: pd.DataFrame, segment_ids: np.ndarray, labels: Mapping[str, str], order: Sequence[str]
) -> tuple[SegmentProfile, ...]:
    """Size, share, mean features and revenue share of each segment in ``order``.

    Revenue share is the segment's share of the total monetary value; it is
    ``None`` without monetary values or when the total is not positive.
    Means skip missing values; a mean of nothing is ``None``.
    """
    segment_ids = np.asarray(segment_ids, dtype="str")
    columns = numeric_feature_names(features)
    grouped = features[columns].groupby(segment_ids)
    means = grouped.mean()
    sizes = pd.Series(segment_ids).value_counts()
    revenue = grouped["monetary"].sum() if "monetary" in columns else None
    total_revenue = float(features["monetary"].sum()) if "monetary" in columns else 0.0
    profiles = []
    for segment in order:
        if segment not in sizes.index:
            continue
        row = means.loc[segment]
        share = None
        if revenue is not None and total_revenue > 0:
            share = float(revenue.loc[segment]) / total_revenue
        profiles.append(
            SegmentProfile(
                segment_id=segment,
                label=_label_of(labels, segment),
                size=int(sizes.loc[segment]),
                share=int(sizes.loc[segment]) / len(features),
                mean_recency=_optional_float(row.get("recency")),
                mean_frequency=_optional_float(row.get("frequency")),
                mean_monetary=_optional_float(row.get("monetary")),
                revenue_share=share,
                feature_means=tuple((name, _optional_float(row[name])) for name in columns),
            )
        )
    return tuple(profiles)


def _customer_table(
    frames: DatasetFrames,
    features: pd.DataFrame,
    segment_ids: np.ndarray,
    labels: Mapping[str, str],
) -> pd.DataFrame:
    external = frames.customers.set_index("customer_id")["external_id"].reindex(features.index)
    table = pd.DataFrame(
        {"external_id": external.astype("str"), "segment_id": segment_ids},
        index=features.index,
    )
    table["label"] = [_label_of(labels, segment) for segment in segment_ids]
    return table.join(features[numeric_feature_names(features)])


def _labels_of(metrics: Mapping[str, Any]) -> dict[str, str]:
    return {str(item["id"]): str(item["label"]) for item in metrics.get("segments", [])}


def apply_segmentation(
    frames: DatasetFrames,
    features: pd.DataFrame,
    method: SegmentationMethod,
    estimator: Any,
    model_features: Sequence[str],
    metrics: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    model_id: str | None = None,
    model_version: int | None = None,
) -> SegmentationResult:
    """Assign the customers of ``frames`` with a fitted pipeline and profile the segments.

    ``metrics`` are the training metrics: their ``segments`` name the labels.
    """
    table = segmentation_table(features)
    missing = [name for name in model_features if name not in table.columns]
    if missing:
        raise InvalidArgumentError(
            f"dataset: {frames.dataset_id!r} has no {', '.join(map(repr, missing))}, "
            "which the model was trained on"
        )
    segment_ids = estimator.predict(table[list(model_features)]).astype("str")
    labels = _labels_of(metrics)
    order = [str(item["id"]) for item in metrics.get("segments", [])]
    order += [s for s in _cluster_order(Counter(segment_ids.tolist())) if s not in order]
    return SegmentationResult(
        dataset_id=frames.dataset_id,
        dataset_version=frames.version,
        method=method,
        features=tuple(model_features),
        segments=profile_segments(features, segment_ids, labels, order),
        customers=_customer_table(frames, features, segment_ids, labels),
        metrics=dict(metrics),
        params=dict(params),
        model_id=model_id,
        model_version=model_version,
    )


def segment_by_rfm(frames: DatasetFrames, as_of: dt.date | None = None) -> SegmentationResult:
    """The named RFM segments (:func:`analytics.rfm.score_rfm`) as a segmentation.

    Raises
    ------
    InvalidArgumentError
        When the dataset has no orders before ``as_of``.
    """
    rfm = score_rfm(frames, as_of)
    if rfm.customer_count == 0:
        raise InvalidArgumentError(
            f"method: RFM segments need orders and dataset {frames.dataset_id!r} has none; "
            "use KMEANS or DBSCAN to segment a customer table"
        )
    customers = rfm.customers
    features = customers[list(RFM_FEATURES)].astype("float64")
    segment_ids = customers["segment"].to_numpy(dtype="str")
    sizes = Counter(segment_ids.tolist())
    order = [name for name in SEGMENTS if name in sizes]
    labels = {name: name for name in order}
    metrics = {
        "customers": len(customers),
        "n_clusters": len(order),
        "silhouette": None,
        "cluster_sizes": {name: sizes[name] for name in order},
        "segments": [
            {"id": name, "label": name, "size": sizes[name], "share": sizes[name] / len(customers)}
            for name in order
        ],
    }
    table = pd.DataFrame(
        {
            "external_id": customers["external_id"].astype("str"),
            "segment_id": segment_ids,
            "label": segment_ids,
        },
        index=customers.index,
    ).join(features)
    return SegmentationResult(
        dataset_id=frames.dataset_id,
        dataset_version=frames.version,
        method=SegmentationMethod.RFM,
        features=RFM_FEATURES,
        segments=profile_segments(features, segment_ids, labels, order),
        customers=table,
        metrics=json_safe(metrics),
        params={"as_of": rfm.as_of.isoformat(), "scores": "quintiles 1..5, R/F grid"},
    )


def _scatter_figure(result: SegmentationResult) -> charts.Figure:
    customers = result.customers
    numeric = [name for name in result.features if name in customers.columns]
    if "recency" in numeric and "monetary" in numeric:
        x_name, y_name = "recency", "monetary"
    elif len(numeric) >= 2:
        x_name, y_name = numeric[0], numeric[1]
    else:
        x_name, y_name = numeric[0], "label"
    shown = customers.dropna(subset=[x_name, y_name])
    if len(shown) > FIGURE_POINTS:
        shown = shown.sample(FIGURE_POINTS, random_state=0).sort_index()
    log_y = y_name == "monetary" and bool((shown[y_name] > 0).all())
    traces = []
    for segment in result.segments:
        part = shown[shown["segment_id"] == segment.segment_id]
        if part.empty:
            continue
        traces.append(
            go.Scatter(
                x=part[x_name].tolist(),
                y=part[y_name].tolist(),
                mode="markers",
                marker={"size": 5, "opacity": 0.7},
                name=segment.label,
                text=part["external_id"].tolist(),
                hovertemplate="%{text}<extra>" + segment.label + "</extra>",
            )
        )
    title = f"Customer segments ({_METHOD_NAMES[result.method]})"
    if len(shown) < len(customers):
        title += f", {len(shown):,} of {len(customers):,} customers"
    figure = go.Figure(traces)
    figure.update_layout(
        title={"text": title},
        template="plotly_white",
        xaxis={"title": {"text": _pretty(x_name).capitalize()}},
        yaxis={
            "title": {"text": _pretty(y_name).capitalize()},
            "type": "log" if log_y else "linear",
        },
    )
    return charts.figure_to_dict(figure)


def _features(store: AnalyticsStore, dataset_id: str, version: int) -> pd.DataFrame:
    return store.cache.get_or_compute(
        dataset_id,
        version,
        ("segmentation_features",),
        lambda: build_customer_features(store.frames(dataset_id, version)),
    )


def _fit(features: pd.DataFrame, method: SegmentationMethod, timeout: float | None) -> TrainedModel:
    if timeout is None:
        return fit_segmentation(features, method)
    return run_with_timeout(fit_segmentation, features, method, timeout=timeout)


def _require_model_method(method: SegmentationMethod) -> None:
    if method is SegmentationMethod.RFM:
        raise InvalidArgumentError(
            "method: RFM segments are rules over the scores, not a trained model; "
            "train KMEANS or DBSCAN"
        )


def train_segmentation_model(
    store: AnalyticsStore,
    model_dir: Path,
    dataset_id: str,
    method: SegmentationMethod,
    *,
    timeout: float | None,
) -> ModelVersion:
    """Fit a K-means or DBSCAN model on a dataset and store it as a new model version.

    Parameters
    ----------
    store : AnalyticsStore
        Where the dataset lives; the model registry is in the same database.
    model_dir : Path
        Where the fitted pipeline is saved.
    dataset_id : str
        The dataset, at its current version.
    method : SegmentationMethod
        ``KMEANS`` or ``DBSCAN``.
    timeout : float or None
        Seconds the fit may take in a worker process; ``None`` fits in this process.

    Raises
    ------
    InvalidArgumentError
        For method RFM, too few customers or no features.
    analytics.worker.TrainingTimeoutError
        When the fit takes longer than ``timeout`` (nothing is stored).
    """
    _require_model_method(method)
    version = store.version(dataset_id)
    trained = _fit(_features(store, dataset_id, version), method, timeout)
    return save_model_version(
        store.engine,
        model_dir,
        dataset_id=dataset_id,
        dataset_version=version,
        kind=SEGMENTATION_KIND,
        method=method.model_method,
        trained=trained,
    )


def _apply_stored(
    frames: DatasetFrames,
    features: pd.DataFrame,
    method: SegmentationMethod,
    model_dir: Path,
    version: ModelVersion,
) -> SegmentationResult:
    return apply_segmentation(
        frames,
        features,
        method,
        load_model(model_dir, version),
        version.features,
        version.metrics,
        version.params,
        model_id=version.id,
        model_version=version.version,
    )


def segment_dataset(
    store: AnalyticsStore,
    dataset_id: str,
    method: SegmentationMethod,
    *,
    model_dir: Path | None,
    timeout: float | None,
) -> SegmentationResult:
    """The segments of a dataset's customers, cached per dataset version.

    RFM segments come from the scores. K-means and DBSCAN segments come from
    the latest stored model of that method trained on the dataset's current
    version; without one the model is fitted on the fly (in a worker process
    stopped after ``timeout`` seconds) and the result has no ``model_id``.
    """
    version = store.version(dataset_id)

    def cached(key: tuple[Any, ...], compute: Any) -> SegmentationResult:
        result: SegmentationResult = store.cache.get_or_compute(dataset_id, version, key, compute)
        return result

    if method is SegmentationMethod.RFM:
        return cached(
            ("segmentation", method), lambda: segment_by_rfm(store.frames(dataset_id, version))
        )
    frames = store.frames(dataset_id, version)
    features = _features(store, dataset_id, version)
    if model_dir is not None:
        stored = latest_model_version(
            store.engine,
            dataset_id,
            SEGMENTATION_KIND,
            method.model_method,
            dataset_version=version,
        )
        if stored is not None:
            return cached(
                ("segmentation", method, stored.id),
                partial(_apply_stored, frames, features, method, model_dir, stored),
            )

    def fit_on_the_fly() -> SegmentationResult:
        trained = _fit(features, method, timeout)
        return apply_segmentation(
            frames,
            features,
            method,
            trained.estimator,
            trained.features,
            trained.metrics,
            trained.params,
        )

    return cached(("segmentation", method, None), fit_on_the_fly)


@dataclass(frozen=True)
class CustomerFeatures:
    """One customer to assign: an optional id and feature values by name."""

    customer_id: str | None
    values: Mapping[str, float]


@dataclass(frozen=True)
class SegmentAssignmentResult:
    customer_id: str | None
    segment_id: str
    label: str


def customer_features(
    index: int,
    customer_id: str | None,
    fields: Mapping[str, float | None],
    attributes: Mapping[str, Any] | None = None,
) -> CustomerFeatures:
    """Features of the ``index``-th customer of a request from named fields plus ``attributes``.

    Values that are ``None`` or NaN are absent; the others must be finite
    numbers (booleans count as 0/1).

    Raises
    ------
    InvalidArgumentError
        Naming ``customers[index]`` and the field or attribute, for a value
        that is no finite number or a feature given twice.
    """
    values: dict[str, float] = {}
    given = [(f"customers[{index}].{name}", name, value) for name, value in fields.items()]
    given += [
        (f"customers[{index}].attributes.{name}", name, value)
        for name, value in (attributes or {}).items()
    ]
    for where, name, value in given:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if name in values:
            raise InvalidArgumentError(f"{where}: {name!r} is also given as a field")
        if not isinstance(value, int | float):  # booleans are ints
            raise InvalidArgumentError(f"{where}: expected a number, got {value!r}")
        if math.isinf(value):
            raise InvalidArgumentError(f"{where}: must be finite, got {value!r}")
        values[name] = float(value)
    return CustomerFeatures(customer_id, values)


def assign_segments(
    estimator: Any, version: ModelVersion, customers: Sequence[CustomerFeatures]
) -> tuple[SegmentAssignmentResult, ...]:
    """Assign customers to the segments of a stored model.

    Every feature the model was trained on is required, except those some
    training customers lacked (``params["optional_features"]``, e.g. a
    satisfaction score): a missing one is imputed with the training median,
    exactly as in training. Names a model does not use are ignored.

    Raises
    ------
    InvalidArgumentError
        Naming the customer's index and the feature, for a missing required feature.
    """
    optional = set(version.params.get("optional_features", []))
    required = [name for name in version.features if name not in optional]
    rows = []
    for index, customer in enumerate(customers):
        for name in required:
            if name not in customer.values:
                raise InvalidArgumentError(
                    f"customers[{index}]: {name!r} is missing; model {version.id!r} needs "
                    f"{', '.join(required)}"
                    + (f" (optional: {', '.join(sorted(optional))})" if optional else "")
                )
        rows.append([customer.values.get(name, math.nan) for name in version.features])
    if not rows:
        return ()
    table = pd.DataFrame(rows, columns=list(version.features), dtype="float64")
    segment_ids = estimator.predict(table).astype("str")
    labels = _labels_of(version.metrics)
    return tuple(
        SegmentAssignmentResult(
            customer_id=customer.customer_id,
            segment_id=segment,
            label=_label_of(labels, segment),
        )
        for customer, segment in zip(customers, segment_ids, strict=True)
    )


def predict_segments(
    store: AnalyticsStore,
    model_dir: Path,
    model_id: str,
    customers: Sequence[CustomerFeatures],
) -> tuple[SegmentAssignmentResult, ...]:
    """Assign new customers with a stored segmentation model (see :func:`assign_segments`).

    Raises
    ------
    InvalidArgumentError
        More than :data:`MAX_PREDICT_CUSTOMERS` customers, a model that is no
        segmentation model, or a missing feature.
    analytics.models.ModelNotFoundError
        When there is no model ``model_id``.
    """
    if len(customers) > MAX_PREDICT_CUSTOMERS:
        raise InvalidArgumentError(
            f"customers: at most {MAX_PREDICT_CUSTOMERS:,} per call, got {len(customers):,}"
        )
    version = get_model_version(store.engine, model_id)
    if version.kind != SEGMENTATION_KIND:
        raise InvalidArgumentError(
            f"modelId: model {model_id!r} is a {version.kind} model, not a segmentation model"
        )
    return assign_segments(load_model(model_dir, version), version, customers)


def segmentation_report(result: SegmentationResult) -> dict[str, Any]:
    """A segmentation as the ``segmentation.data`` part of the upload analysis, JSON-ready.

    ``segmented_customers`` lists every segmented customer (``customer_id``,
    ``cluster``, ``segment``); ``cluster_metrics`` holds the method, the
    number of clusters, the silhouette, the sizes and each cluster's profile.
    """
    method = result.method
    customers = result.customers
    return json_safe(
        {
            "segmented_customers": [
                {"customer_id": external_id, "cluster": int(segment), "segment": label}
                for external_id, segment, label in zip(
                    customers["external_id"],
                    customers["segment_id"],
                    customers["label"],
                    strict=True,
                )
            ],
            "cluster_metrics": {
                "method": method.model_method,
                "features": list(result.features),
                "n_clusters": result.metrics["n_clusters"],
                "silhouette_score": result.silhouette,
                "cluster_sizes": result.metrics["cluster_sizes"],
                "params": result.params,
                "clusters": [
                    {
                        "cluster": int(segment.segment_id),
                        "label": segment.label,
                        "size": segment.size,
                        "share": segment.share,
                        "mean_recency": segment.mean_recency,
                        "mean_frequency": segment.mean_frequency,
                        "mean_monetary": segment.mean_monetary,
                        "revenue_share": segment.revenue_share,
                        "feature_means": dict(segment.feature_means),
                    }
                    for segment in result.segments
                ],
            },
        }
    )
