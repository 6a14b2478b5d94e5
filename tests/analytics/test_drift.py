"""Drift per feature and per dataset, checked against hand-computed values."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from analytics.db import ModelVersion, replace_dataset
from analytics.drift import (
    DISTANCE_THRESHOLD,
    P_VALUE_THRESHOLD,
    DriftReferenceNotFoundError,
    DriftResult,
    DriftTest,
    FeatureDrift,
    FeatureKind,
    ReferenceKind,
    check_drift,
    compare_datasets,
    compare_with_model,
    detect_drift,
)
from analytics.errors import DatasetNotFoundError, InvalidArgumentError
from analytics.features import build_customer_features, describe_reference
from analytics.frames import DatasetFrames
from analytics.store import AnalyticsStore
from tests.conftest import tiny_tables

LARGE = 5000  # any reference row count above 1000 selects the distances


def numeric(*values: float) -> pd.Series:
    return pd.Series(values, dtype="float64")


def categorical(*values: str | None) -> pd.Series:
    return pd.Series(values, dtype="object")


def only(result: DriftResult, name: str) -> FeatureDrift:
    return next(feature for feature in result.features if feature.feature == name)


def assert_json_safe(result: DriftResult) -> None:
    """No NaN or infinity anywhere: the result must serialise as strict JSON."""
    json.dumps(asdict(result), allow_nan=False, default=str)


# --- numeric features, small reference: two-sample KS ------------------------------


def test_ks_flags_separated_samples_with_the_exact_p_value() -> None:
    reference = pd.DataFrame({"x": numeric(1, 2, 3, 4, 5)})
    current = pd.DataFrame({"x": numeric(6, 7, 8, 9, 10)})

    feature = only(detect_drift(current, reference), "x")

    # Every current value exceeds every reference value: D = 1. Under H0 each of the
    # C(10, 5) = 252 splits is equally likely and only 2 reach D = 1: p = 2 / 252.
    assert (feature.test, feature.kind) == (DriftTest.KS, FeatureKind.NUMERIC)
    assert feature.statistic == 1.0
    assert feature.p_value == pytest.approx(2 / 252)
    assert feature.distance is None
    assert feature.threshold == P_VALUE_THRESHOLD
    assert feature.drifted
    assert (feature.reference_count, feature.current_count) == (5, 5)


def test_ks_needs_enough_values_to_call_drift() -> None:
    reference = pd.DataFrame({"x": numeric(1, 2, 3)})
    current = pd.DataFrame({"x": numeric(4, 5, 6)})

    feature = only(detect_drift(current, reference), "x")

    # Fully separated again, but only 2 of C(6, 3) = 20 splits: p = 0.1, not below 0.05.
    assert feature.statistic == 1.0
    assert feature.p_value == pytest.approx(0.1)
    assert not feature.drifted


def test_identical_numeric_samples_pass() -> None:
    reference = pd.DataFrame({"x": numeric(1, 2, 3, 4, 5)})

    feature = only(detect_drift(reference.copy(), reference), "x")

    assert (feature.statistic, feature.p_value, feature.drifted) == (0.0, 1.0, False)


# --- categorical features, small reference: chi-square ---------------------------


def test_chi_square_on_the_category_counts() -> None:
    reference = pd.DataFrame({"region": categorical("A", "A", "A", "B")})
    current = pd.DataFrame({"region": categorical("A", "B", "B", "B")})

    feature = only(detect_drift(current, reference), "region")

    # Table [[3, 1], [1, 3]], every expected count 2: chi2 = 4 * (1 / 2) = 2 with one
    # degree of freedom, so p = P(Z^2 > 2) = erfc(sqrt(2 / 2)) = erfc(1).
    assert (feature.test, feature.kind) == (DriftTest.CHI_SQUARE, FeatureKind.CATEGORICAL)
    assert feature.statistic == pytest.approx(2.0)
    assert feature.p_value == pytest.approx(math.erfc(1.0))
    assert not feature.drifted


def test_chi_square_flags_a_shifted_mix() -> None:
    reference = pd.DataFrame({"region": categorical(*["A"] * 10, *["B"] * 10)})
    current = pd.DataFrame({"region": categorical(*["A"] * 18, *["B"] * 2)})

    feature = only(detect_drift(current, reference), "region")

    # Column totals 28 and 12 over 40: expected 14 and 6 per row. Deviations are +-4:
    # chi2 = 2 * (16 / 14 + 16 / 6) = 7.619..., p = erfc(sqrt(chi2 / 2)) = 0.0058.
    chi2 = 2 * (16 / 14 + 16 / 6)
    assert feature.statistic == pytest.approx(chi2)
    assert feature.p_value == pytest.approx(math.erfc(math.sqrt(chi2 / 2)))
    assert feature.drifted


def test_a_single_shared_category_is_no_drift() -> None:
    reference = pd.DataFrame({"region": categorical("A", "A")})
    current = pd.DataFrame({"region": categorical("A", "A", "A")})

    feature = only(detect_drift(current, reference), "region")

    assert (feature.statistic, feature.p_value, feature.drifted) == (0.0, 1.0, False)


# --- large reference: normalised Wasserstein and Jensen-Shannon ------------------


def test_wasserstein_is_divided_by_the_reference_standard_deviation() -> None:
    reference = pd.DataFrame({"x": numeric(0, 2, 4, 6)})
    shifted = pd.DataFrame({"x": numeric(1, 3, 5, 7)})
    nudged = pd.DataFrame({"x": numeric(0.1, 2.1, 4.1, 6.1)})

    moved = only(detect_drift(shifted, reference, reference_rows=LARGE), "x")
    still = only(detect_drift(nudged, reference, reference_rows=LARGE), "x")

    # Shifting every value by 1 moves all the mass by 1: W = 1. The reference has mean 3
    # and variance (9 + 1 + 1 + 9) / 4 = 5, so the normalised distance is 1 / sqrt(5).
    assert moved.test is DriftTest.WASSERSTEIN
    assert moved.distance == pytest.approx(1 / math.sqrt(5))
    assert moved.statistic == moved.distance
    assert moved.p_value is None
    assert moved.threshold == DISTANCE_THRESHOLD
    assert moved.drifted
    assert still.distance == pytest.approx(0.1 / math.sqrt(5))
    assert not still.drifted


def test_a_constant_reference_is_measured_by_the_pooled_spread() -> None:
    reference = pd.DataFrame({"x": numeric(3, 3, 3, 3)})
    current = pd.DataFrame({"x": numeric(3, 3, 3, 5)})

    feature = only(detect_drift(current, reference, reference_rows=LARGE), "x")
    same = only(detect_drift(reference.copy(), reference, reference_rows=LARGE), "x")

    # W = (0 + 0 + 0 + 2) / 4 = 0.5. The pooled values (seven 3s, one 5) have mean 3.25
    # and variance (7 * 0.0625 + 3.0625) / 8 = 0.4375.
    assert feature.distance == pytest.approx(0.5 / math.sqrt(0.4375))
    assert feature.drifted
    assert (same.distance, same.drifted) == (0.0, False)


def test_jensen_shannon_distance_between_category_frequencies() -> None:
    reference = pd.DataFrame({"plan": categorical("basic", "pro")})
    current = pd.DataFrame({"plan": categorical("basic", "basic")})

    feature = only(detect_drift(current, reference, reference_rows=LARGE), "plan")

    # P = (1/2, 1/2), Q = (1, 0), M = (3/4, 1/4): JSD = H(M) - (H(P) + H(Q)) / 2
    # = (0.75 log2(4/3) + 0.25 log2(4)) - (1 + 0) / 2 = 0.3113; the distance is its root.
    entropy_m = 0.75 * math.log2(4 / 3) + 0.25 * 2
    assert feature.test is DriftTest.JENSEN_SHANNON
    assert feature.distance == pytest.approx(math.sqrt(entropy_m - 0.5))
    assert feature.distance == pytest.approx(0.5579, abs=1e-4)
    assert feature.drifted


def test_identical_categories_have_zero_distance() -> None:
    reference = pd.DataFrame({"plan": categorical("basic", "pro", "pro")})

    feature = only(detect_drift(reference.copy(), reference, reference_rows=LARGE), "plan")

    assert (feature.distance, feature.drifted) == (0.0, False)


def test_the_reference_row_count_chooses_tests_or_distances() -> None:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=1000), "c": ["a", "b"] * 500})
    bigger = pd.DataFrame({"x": rng.normal(size=1001), "c": ["a"] * 501 + ["b"] * 500})

    at_limit = detect_drift(reference, reference)
    over_limit = detect_drift(reference, bigger)
    sampled = detect_drift(reference, reference, reference_rows=1001)

    assert [f.test for f in at_limit.features] == [DriftTest.KS, DriftTest.CHI_SQUARE]
    assert [f.test for f in over_limit.features] == [
        DriftTest.WASSERSTEIN,
        DriftTest.JENSEN_SHANNON,
    ]
    assert [f.test for f in sampled.features] == [
        DriftTest.WASSERSTEIN,
        DriftTest.JENSEN_SHANNON,
    ]
    assert over_limit.reference_rows == 1001
    assert sampled.reference_rows == 1001


def test_a_large_reference_flags_a_shift_of_half_a_standard_deviation() -> None:
    reference = pd.DataFrame({"x": np.tile([0.0, 2.0], 600)})  # 1200 rows, std 1

    moved = only(detect_drift(reference + 0.5, reference), "x")
    still = only(detect_drift(reference + 0.05, reference), "x")

    assert moved.test is DriftTest.WASSERSTEIN
    assert moved.distance == pytest.approx(0.5)
    assert moved.drifted
    assert still.distance == pytest.approx(0.05)
    assert not still.drifted


# --- the dataset verdict ----------------------------------------------------------


def _frames_with_shifts(shifted: int, stable: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = [f"f{i}" for i in range(shifted + stable)]
    reference = pd.DataFrame({name: numeric(0, 2, 4, 6) for name in names})
    current = reference.copy()
    for name in names[:shifted]:
        current[name] = current[name] + 10
    return current, reference


@pytest.mark.parametrize(
    ("shifted", "stable", "share", "drifted"),
    [(2, 2, 0.5, True), (1, 2, 1 / 3, False), (2, 1, 2 / 3, True), (0, 3, 0.0, False)],
)
def test_the_dataset_drifts_when_at_least_half_of_the_features_do(
    shifted: int, stable: int, share: float, drifted: bool
) -> None:
    current, reference = _frames_with_shifts(shifted, stable)

    result = detect_drift(current, reference, reference_rows=LARGE)

    assert result.tested_count == shifted + stable
    assert result.drifted_count == shifted
    assert result.drifted_share == pytest.approx(share)
    assert result.drifted is drifted
    assert [f.feature for f in result.drifted_features] == [f"f{i}" for i in range(shifted)]


def test_missing_values_are_left_out_and_reported_as_shares() -> None:
    reference = pd.DataFrame(
        {"x": numeric(1, 2, 3, 4, np.nan), "region": categorical("A", None, "B", "A", "B")}
    )
    current = pd.DataFrame(
        {"x": numeric(1, 2, 3, 4, 5), "region": categorical(None, None, "A", "B", None)}
    )

    result = detect_drift(current, reference)
    x, region = only(result, "x"), only(result, "region")

    assert (x.reference_count, x.current_count) == (4, 5)
    assert (x.reference_missing_share, x.current_missing_share) == (0.2, 0.0)
    assert (region.reference_count, region.current_count) == (4, 2)
    assert (region.reference_missing_share, region.current_missing_share) == (0.2, 0.6)
    # Non-missing regions: A, B, A, B against A, B, so chi2 = 0 and nothing drifted.
    assert (region.statistic, region.p_value) == (0.0, 1.0)
    assert_json_safe(result)


def test_a_feature_without_values_on_one_side_is_not_tested() -> None:
    reference = pd.DataFrame({"x": numeric(1, 2, 3), "y": numeric(np.nan, np.nan, np.nan)})
    current = pd.DataFrame({"x": numeric(1, 2, 3), "y": numeric(1, 2, np.inf)})

    result = detect_drift(current, reference)
    y = only(result, "y")

    assert y.test is None and not y.tested
    assert (y.statistic, y.p_value, y.distance) == (None, None, None)
    assert y.reason == "no value in the reference"
    assert not y.drifted
    assert y.reference_missing_share == 1.0
    # Infinity is no measurement either.
    assert (y.current_count, y.current_missing_share) == (2, pytest.approx(1 / 3))
    assert (result.tested_count, result.drifted_share) == (1, 0.0)
    assert_json_safe(result)


def test_a_feature_numeric_on_one_side_only_is_not_tested() -> None:
    reference = pd.DataFrame({"x": numeric(1, 2, 3), "plan": numeric(1, 2, 3)})
    current = pd.DataFrame({"x": numeric(1, 2, 3), "plan": categorical("a", "b", "c")})

    plan = only(detect_drift(current, reference), "plan")

    assert plan.test is None
    assert plan.reason == "numeric in the reference only: the kinds differ"


def test_features_on_one_side_only_are_listed_not_compared() -> None:
    reference = pd.DataFrame({"x": numeric(1, 2), "old": numeric(1, 2)})
    current = pd.DataFrame({"new": categorical("a", "b"), "x": numeric(1, 2)})

    result = detect_drift(current, reference)

    assert [f.feature for f in result.features] == ["x"]
    assert result.missing_features == ("old",)
    assert result.new_features == ("new",)


def test_frames_without_a_shared_feature_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"reference: .*share no customer feature"):
        detect_drift(pd.DataFrame({"a": numeric(1)}), pd.DataFrame({"b": numeric(1)}))


def test_frames_without_any_comparable_feature_are_refused() -> None:
    reference = pd.DataFrame({"x": numeric(np.nan, np.nan)})
    current = pd.DataFrame({"x": numeric(1, 2)})

    with pytest.raises(InvalidArgumentError, match="reference: no shared feature has values"):
        detect_drift(current, reference)


def test_a_negative_reference_row_count_is_refused() -> None:
    frame = pd.DataFrame({"x": numeric(1, 2)})

    with pytest.raises(InvalidArgumentError, match="reference_rows"):
        detect_drift(frame, frame, reference_rows=-1)


def test_the_figure_charts_each_tested_feature_against_the_threshold() -> None:
    current, reference = _frames_with_shifts(1, 1)
    current["gone"] = numeric(1, 2, 3, 4)
    reference["gone"] = numeric(np.nan, np.nan, np.nan, np.nan)

    result = detect_drift(current, reference, reference_rows=LARGE)
    fig = pio.from_json(json.dumps(result.figure))

    (bars,) = fig.data
    assert list(bars.x) == ["f0", "f1"]  # "gone" was not tested
    assert list(bars.y) == pytest.approx([10 / math.sqrt(5), 0.0])
    assert list(bars.marker.color) == ["#d62728", "#2ca02c"]
    assert fig.layout.shapes[0].y0 == DISTANCE_THRESHOLD


# --- datasets and models ----------------------------------------------------------


def test_a_dataset_compared_with_itself_has_not_drifted(frames: DatasetFrames) -> None:
    result = compare_datasets(frames, frames)

    # C1, C2, C3 and C5 ordered; recency, frequency, monetary, tenure, satisfaction, region.
    assert result.tested_count == 6
    assert all(f.p_value == 1.0 and not f.drifted for f in result.features)
    assert (result.drifted, result.drifted_share) == (False, 0.0)
    assert (result.missing_features, result.new_features) == ((), ())


def test_an_empty_dataset_is_refused(frames: DatasetFrames, empty_frames: DatasetFrames) -> None:
    with pytest.raises(InvalidArgumentError, match="dataset: 'test' has no customer features"):
        compare_datasets(empty_frames, frames)
    with pytest.raises(InvalidArgumentError, match="reference: dataset 'test' has no customer"):
        compare_datasets(frames, empty_frames)


def _model(reference: dict[str, object], model_id: str = "m1") -> ModelVersion:
    return ModelVersion(
        id=model_id,
        dataset_id="test",
        dataset_version=1,
        kind="segmentation",
        method="kmeans",
        version=1,
        fingerprint="0" * 64,
        reference=reference,
        artifact_path="m1.joblib",
    )


def test_a_model_reference_uses_its_full_row_count(frames: DatasetFrames) -> None:
    reference = describe_reference(build_customer_features(frames))

    small = compare_with_model(frames, _model(reference))
    large = compare_with_model(frames, _model({**reference, "rows": LARGE}))

    assert {f.test for f in small.features} == {DriftTest.KS, DriftTest.CHI_SQUARE}
    assert {f.test for f in large.features} == {DriftTest.WASSERSTEIN, DriftTest.JENSEN_SHANNON}
    assert large.reference_rows == LARGE
    assert not small.drifted and not large.drifted
    assert all(f.distance == 0.0 for f in large.features)


def test_a_model_without_a_stored_reference_is_refused(frames: DatasetFrames) -> None:
    with pytest.raises(InvalidArgumentError, match="reference: model version 'm1' stored no"):
        compare_with_model(frames, _model({}))


def test_check_drift_looks_for_a_model_first_then_a_dataset(sqlite_engine: Engine) -> None:
    replace_dataset(sqlite_engine, "tiny", "Tiny", tiny_tables())
    store = AnalyticsStore(sqlite_engine)
    features = build_customer_features(store.frames("tiny"))
    with Session(sqlite_engine) as session:
        session.add(_model(describe_reference(features), model_id="tiny"))
        session.commit()

    by_model = check_drift(store, "tiny", "tiny")

    assert by_model.reference_kind is ReferenceKind.MODEL
    assert not by_model.result.drifted
    with pytest.raises(DriftReferenceNotFoundError, match="reference: 'nope' is neither"):
        check_drift(store, "tiny", "nope")
    with pytest.raises(DatasetNotFoundError):
        check_drift(store, "nope", "tiny")


def test_check_drift_caches_per_dataset_version(sqlite_engine: Engine) -> None:
    replace_dataset(sqlite_engine, "a", "A", tiny_tables())
    replace_dataset(sqlite_engine, "b", "B", tiny_tables())
    store = AnalyticsStore(sqlite_engine)

    first = check_drift(store, "a", "b")
    again = check_drift(store, "a", "b")
    replace_dataset(sqlite_engine, "b", "B", tiny_tables())
    after_change = check_drift(store, "a", "b")

    assert first.reference_kind is ReferenceKind.DATASET
    assert (first.dataset_version, first.reference_version) == (1, 1)
    assert again.result is first.result
    assert after_change.reference_version == 2
    assert after_change.result is not first.result
