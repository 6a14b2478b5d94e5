"""Segmentation on hand-built customers whose clusters, sizes and means are known by hand."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest
from sqlalchemy.engine import Engine

from analytics.db import ModelVersion
from analytics.demo import create_demo_dataset, generate_demo_tables
from analytics.errors import InvalidArgumentError
from analytics.features import build_customer_features
from analytics.frames import DatasetFrames, build_frames, frames_from_tables
from analytics.ingest import import_file
from analytics.models import list_model_versions
from analytics.segmentation import (
    NOISE_LABEL,
    SampledDBSCAN,
    SegmentationMethod,
    SegmentationResult,
    SilhouetteKMeans,
    apply_segmentation,
    assign_segments,
    customer_features,
    default_min_samples,
    find_knee,
    fit_segmentation,
    k_distances,
    label_segments,
    predict_segments,
    segment_by_rfm,
    segment_dataset,
    segmentation_report,
    signed_log1p,
    train_segmentation_model,
)
from analytics.store import AnalyticsStore
from analytics.worker import TrainingTimeoutError

KMEANS, DBSCAN, RFM = SegmentationMethod.KMEANS, SegmentationMethod.DBSCAN, SegmentationMethod.RFM

# Six loyal big spenders (customers 1-6) and six lapsed one-off buyers (7-12).
LOYAL = {
    "recency": [5.0, 6, 7, 8, 9, 10],
    "frequency": [10.0, 10, 11, 11, 12, 12],
    "monetary": [1000.0, 1050, 1100, 1150, 1200, 1250],
    "tenure": [700.0, 710, 720, 730, 740, 750],
}
LAPSED = {
    "recency": [300.0, 310, 320, 330, 340, 350],
    "frequency": [1.0] * 6,
    "monetary": [20.0, 25, 30, 35, 40, 45],
    "tenure": [300.0, 310, 320, 330, 340, 350],
}


def two_groups() -> pd.DataFrame:
    features = pd.DataFrame(
        {name: LOYAL[name] + LAPSED[name] for name in LOYAL},
        index=pd.Index(range(1, 13), name="customer_id"),
    )
    # Satisfaction unknown for two customers: imputed, never a NaN in the results.
    features["satisfaction_score"] = [5.0, 4, np.nan, 5, 4, 5, 2, 3, 2, np.nan, 1, 2]
    features["region"] = ["North"] * 6 + ["South"] * 6
    return features


def frames_with_customers(dataset_id: str, customers: pd.DataFrame) -> DatasetFrames:
    """Frames holding only ``customers`` (customer_id, external_id, optional attributes)."""
    customers = customers.reindex(
        columns=[
            "customer_id",
            "external_id",
            "name",
            "email",
            "region",
            "country",
            "signup_date",
            "satisfaction_score",
            *(["attributes"] if "attributes" in customers else []),
        ]
    )
    return build_frames(
        dataset_id,
        1,
        customers,
        pd.DataFrame(columns=["product_id", "sku", "name", "category", "unit_price"]),
        pd.DataFrame(columns=["sales_rep_id", "name", "region"]),
        pd.DataFrame(
            columns=[
                "order_id",
                "external_id",
                "customer_id",
                "order_date",
                "status",
                "channel",
                "sales_rep_id",
                "total",
            ]
        ),
        pd.DataFrame(columns=["order_id", "product_id", "quantity", "unit_price", "amount"]),
    )


def frames_for(features: pd.DataFrame) -> DatasetFrames:
    """Frames whose customers are those of ``features``, with source ids C1, C2..."""
    ids = features.index.to_numpy()
    return frames_with_customers(
        "hand", pd.DataFrame({"customer_id": ids, "external_id": [f"C{i}" for i in ids]})
    )


def fitted(
    features: pd.DataFrame, method: SegmentationMethod
) -> tuple[object, tuple[str, ...], dict[str, object], dict[str, object]]:
    """What :func:`apply_segmentation` needs after the frames, features and method."""
    trained = fit_segmentation(features, method)
    return trained.estimator, trained.features, trained.metrics, trained.params


def applied(features: pd.DataFrame, method: SegmentationMethod) -> SegmentationResult:
    return apply_segmentation(frames_for(features), features, method, *fitted(features, method))


def assert_json_safe(value: object) -> None:
    json.dumps(value, allow_nan=False)


def assert_figure_loads(figure: dict[str, object]) -> None:
    loaded = pio.from_json(json.dumps(figure, allow_nan=False))
    assert loaded.data


def test_signed_log1p_keeps_sign_and_zero() -> None:
    values = np.array([-(np.e - 1), 0.0, np.e - 1, np.e**2 - 1])

    np.testing.assert_allclose(signed_log1p(values), [-1.0, 0.0, 1.0, 2.0])


def test_knee_of_a_constructed_k_distance_curve() -> None:
    # Flat at 1 for eight points, then 10 and 20. x - y is 7/9 at index 7
    # (x = 7/9, y = 0) but only 8/9 - 9/19 at index 8.
    curve = np.array([1.0] * 8 + [10.0, 20.0])

    assert find_knee(curve) == 7
    assert find_knee(np.array([2.0, 2.0, 2.0])) == 2  # flat: no knee before the end
    assert find_knee(np.array([3.0])) == 0


def test_k_distances_count_the_point_itself_first() -> None:
    points = np.array([[0.0], [1.0], [3.0], [6.0]])

    # With k = 2 each point's distance to its nearest other point.
    np.testing.assert_allclose(k_distances(points, 2), [1.0, 1.0, 2.0, 3.0])


def test_default_min_samples() -> None:
    assert default_min_samples(300, 5) == 10  # twice the dimensions
    assert default_min_samples(10, 5) == 3  # a tenth of the customers, at least 3
    assert default_min_samples(1000, 1) == 3


def test_kmeans_picks_the_number_of_obvious_blobs() -> None:
    offsets = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1]])
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = np.vstack([centre + offsets for centre in centres])

    model = SilhouetteKMeans(random_state=0).fit(points)

    assert model.n_clusters_ == 3
    assert set(model.silhouette_scores_) == set(range(2, 11))
    assert max(model.silhouette_scores_.values()) == model.silhouette_scores_[3]
    blobs = model.labels_.reshape(3, 4)
    assert all(len(set(blob)) == 1 for blob in blobs)
    assert len({blob[0] for blob in blobs}) == 3
    np.testing.assert_array_equal(model.predict(centres), blobs[:, 0])


def test_kmeans_with_a_given_k_and_an_impossible_one() -> None:
    points = np.array([[0.0], [0.1], [5.0], [5.1], [10.0], [10.1]])

    assert SilhouetteKMeans(n_clusters=2).fit(points).n_clusters_ == 2
    with pytest.raises(InvalidArgumentError, match=r"n_clusters: must be 2\.\.6"):
        SilhouetteKMeans(n_clusters=7).fit(points)
    with pytest.raises(InvalidArgumentError, match="all the same"):
        SilhouetteKMeans().fit(np.ones((12, 2)))


# Two runs of five points on a line, far apart, and one point in between.
LINE_POINTS = np.array(
    [[x, 0.0] for x in (0, 1, 2, 3, 4)] + [[x, 0.0] for x in (100, 101, 102, 103, 104)] + [[50, 50]]
)


def test_dbscan_eps_from_the_knee_and_assignment_of_new_points() -> None:
    model = SampledDBSCAN(min_samples=3).fit(LINE_POINTS)

    # 3-distances: 1 for the six inner points, 2 for the four ends, ~70 for the
    # loner; the knee is the last 2 (x = 0.9, y = 1/69.7), so eps = 2 and
    # every point of the runs is a core point.
    assert model.eps_ == 2.0
    assert model.min_samples_ == 3
    np.testing.assert_array_equal(model.labels_, [0] * 5 + [1] * 5 + [-1])
    new = np.array([[5.0, 0], [6.5, 0], [102.0, 1.5], [50.0, 0]])
    # 1 from the core point (4, 0); 2.5 > eps; 1.5 from (102, 0); far from all.
    np.testing.assert_array_equal(model.predict(new), [0, -1, 1, -1])


def test_dbscan_with_given_eps_and_on_a_sample() -> None:
    tight = SampledDBSCAN(eps=0.5, min_samples=3).fit(LINE_POINTS)
    assert tight.n_clusters_ == 0
    np.testing.assert_array_equal(tight.predict(LINE_POINTS), [-1] * 11)

    sampled = SampledDBSCAN(eps=2.0, min_samples=2, max_samples=8).fit(LINE_POINTS)
    assert sampled.n_fit_samples_ == 8
    np.testing.assert_array_equal(sampled.labels_, sampled.predict(LINE_POINTS))
    with pytest.raises(InvalidArgumentError, match="eps: must be positive"):
        SampledDBSCAN(eps=0.0).fit(LINE_POINTS)
    with pytest.raises(InvalidArgumentError, match=r"min_samples: must be 2\.\.11"):
        SampledDBSCAN(min_samples=12).fit(LINE_POINTS)


def test_kmeans_finds_the_two_groups_with_hand_checked_profiles() -> None:
    features = two_groups()

    trained = fit_segmentation(features, KMEANS)
    result = applied(features, KMEANS)

    assert trained.params["n_clusters"] == 2
    assert trained.params["n_clusters_chosen_by"] == "silhouette"
    assert trained.params["optional_features"] == ["satisfaction_score"]
    assert trained.features == ("recency", "frequency", "monetary", "tenure", "satisfaction_score")
    assert sorted(trained.metrics["cluster_sizes"].values()) == [6, 6]
    assert trained.metrics["silhouette"] > 0.7
    by_id = {segment.segment_id: segment for segment in result.segments}
    loyal, lapsed = (
        by_id[result.customers.at[1, "segment_id"]],
        by_id[result.customers.at[7, "segment_id"]],
    )
    assert set(result.customers.loc[1:6, "segment_id"]) == {loyal.segment_id}
    assert set(result.customers.loc[7:12, "segment_id"]) == {lapsed.segment_id}
    assert loyal.label == "High value, recent, frequent"
    assert lapsed.label == "Low value, lapsed, infrequent"
    assert (loyal.size, loyal.share) == (6, 0.5)
    assert loyal.mean_recency == pytest.approx(7.5)
    assert loyal.mean_frequency == pytest.approx(11.0)
    assert loyal.mean_monetary == pytest.approx(1125.0)
    assert lapsed.mean_recency == pytest.approx(325.0)
    assert lapsed.mean_monetary == pytest.approx(32.5)
    # Revenue 6 x 1125 = 6750 and 6 x 32.5 = 195 of 6945.
    assert loyal.revenue_share == pytest.approx(6750 / 6945)
    assert lapsed.revenue_share == pytest.approx(195 / 6945)
    # Satisfaction means skip the unknown: (5+4+5+4+5)/5 and (2+3+2+1+2)/5.
    assert dict(loyal.feature_means)["satisfaction_score"] == pytest.approx(4.6)
    assert dict(lapsed.feature_means)["satisfaction_score"] == pytest.approx(2.0)
    assert result.segment_of("C3") is not None
    assert result.segment_of("C3").label == loyal.label  # type: ignore[union-attr]
    assert result.segment_of("C99") is None
    assert_json_safe([trained.metrics, trained.params, trained.reference])
    assert_figure_loads(result.figure)
    assert_figure_loads(result.size_figure)


def test_dbscan_on_the_two_groups() -> None:
    result = applied(two_groups(), DBSCAN)

    sizes = {segment.label: segment.size for segment in result.segments}
    assert sum(sizes.values()) == 12
    assert result.params["eps_chosen_by"] == "k-distance knee"
    assert result.params["min_samples"] == 3
    ids = result.customers["segment_id"]
    # Each group is one cluster or noise, never mixed with the other group.
    assert not set(ids.loc[1:6]) - {"-1"} & set(ids.loc[7:12]) - {"-1"}
    assert_json_safe([result.metrics, result.params])
    assert_figure_loads(result.figure)


def test_labels_name_features_without_rfm() -> None:
    features = pd.DataFrame(
        {
            "tenure": [60.0, 62, 64, 66, 2, 3, 4, 5],
            "monthly_charges": [20.0, 21, 22, 23, 90, 95, 100, 105],
            "senior_citizen": [0.0, 1, 0, 1, 0, 1, 0, 1],
        }
    )
    segments = np.array(["0"] * 4 + ["1"] * 4)

    labels = label_segments(features, segments)

    # Senior citizens are half of each segment: in the middle, never named.
    assert labels == {
        "0": "High tenure, low monthly charges",
        "1": "Low tenure, high monthly charges",
    }


def test_clashing_labels_are_told_apart() -> None:
    # Segments 1 and 2 are both "Mid value"; satisfaction tells them apart.
    features = pd.DataFrame(
        {
            "recency": [10.0] * 3 + [50.0] * 6 + [200.0] * 3,
            "frequency": [5.0] * 3 + [3.0] * 6 + [1.0] * 3,
            "monetary": [100.0] * 3 + [50.0] * 6 + [10.0] * 3,
            "satisfaction_score": [3.0] * 3 + [5.0] * 3 + [1.0] * 3 + [3.0] * 3,
        }
    )
    segments = np.array(["0"] * 3 + ["1"] * 3 + ["2"] * 3 + ["3"] * 3)

    assert label_segments(features, segments) == {
        "0": "High value, recent, frequent",
        "1": "Mid value (high satisfaction score)",
        "2": "Mid value (low satisfaction score)",
        "3": "Low value, lapsed, infrequent",
    }
    twins = features.iloc[:6].assign(satisfaction_score=3.0)
    twins.loc[3:, ["recency", "frequency", "monetary"]] = [[10.0, 5.0, 100.0]] * 3
    labels = label_segments(twins, np.array(["0"] * 3 + ["1"] * 3))
    assert len(set(labels.values())) == 2
    assert labels["1"] == labels["0"] + " 2"
    assert label_segments(twins, np.array(["-1"] * 6)) == {"-1": NOISE_LABEL}


def test_too_few_customers_or_no_features_are_clear_errors() -> None:
    with pytest.raises(InvalidArgumentError, match=r"only 9 customers.*at least 10"):
        fit_segmentation(two_groups().iloc[:9], KMEANS)
    with pytest.raises(InvalidArgumentError, match="no numeric customer features"):
        fit_segmentation(two_groups()[["region"]], DBSCAN)
    with pytest.raises(InvalidArgumentError, match="all the same"):
        identical = two_groups().assign(**dict.fromkeys(LOYAL, 1.0), satisfaction_score=3.0)
        fit_segmentation(identical, KMEANS)
    with pytest.raises(InvalidArgumentError, match="method: RFM"):
        fit_segmentation(two_groups(), RFM)


def customer_table_frames() -> DatasetFrames:
    """A telco-style customer table: six long-standing cheap plans, six new expensive ones."""
    plans = [(60, 20), (62, 21), (64, 22), (66, 23), (68, 24), (70, 25)]
    plans += [(1, 90), (2, 95), (3, 100), (4, 105), (5, 110), (6, 115)]
    customers = pd.DataFrame(
        {
            "customer_id": range(1, 13),
            "external_id": [f"T{i}" for i in range(1, 13)],
            "attributes": [
                {
                    "tenure": tenure,
                    "monthly_charges": charges,
                    "contract": "Two year" if tenure > 30 else "Month-to-month",
                    "churn": tenure < 30,
                }
                for tenure, charges in plans
            ],
        }
    )
    return frames_with_customers("telco", customers)


def test_a_customer_table_segments_on_its_numeric_attributes() -> None:
    frames = customer_table_frames()
    features = build_customer_features(frames)

    result = apply_segmentation(frames, features, KMEANS, *fitted(features, KMEANS))

    # The churn label is no feature and the contract is text.
    assert result.features == ("monthly_charges", "tenure")
    assert result.params["log_features"] == []
    by_id = {segment.segment_id: segment for segment in result.segments}
    long_standing = by_id[result.customers.at[1, "segment_id"]]
    new = by_id[result.customers.at[7, "segment_id"]]
    assert (long_standing.size, new.size) == (6, 6)
    assert set(result.customers.loc[1:6, "segment_id"]) == {long_standing.segment_id}
    assert long_standing.label == "Low monthly charges, high tenure"
    assert new.label == "High monthly charges, low tenure"
    assert long_standing.mean_monetary is None
    assert long_standing.revenue_share is None
    assert dict(long_standing.feature_means) == {"monthly_charges": 22.5, "tenure": 65.0}
    assert_figure_loads(result.figure)


def test_one_numeric_attribute_is_enough() -> None:
    balances = [0.0, 10, 20, 30, 40, 50, 5000, 5010, 5020, 5030, 5040, 5050]
    customers = pd.DataFrame(
        {
            "customer_id": range(1, 13),
            "external_id": [f"B{i}" for i in range(1, 13)],
            "attributes": [{"balance": balance, "surname": "Hill"} for balance in balances],
        }
    )
    frames = frames_with_customers("bank", customers)
    features = build_customer_features(frames)

    result = apply_segmentation(frames, features, KMEANS, *fitted(features, KMEANS))

    assert sorted(s.size for s in result.segments) == [6, 6]
    assert {s.label for s in result.segments} == {"High balance", "Low balance"}
    figure = pio.from_json(json.dumps(result.figure))
    assert figure.layout.xaxis.title.text == "Balance"
    assert sorted(len(trace.x) for trace in figure.data) == [6, 6]


def test_rfm_segments_in_the_segmentation_shape(frames: DatasetFrames) -> None:
    result = segment_by_rfm(frames)

    # As of 2023-12-31: C1 R4 F5 Loyal, C2 R2 F2 Hibernating, C3 R3 F3 Need
    # Attention, C5 R5 F4 Champions (see tests/analytics/conftest.py).
    assert [(s.segment_id, s.size) for s in result.segments] == [
        ("Champions", 1),
        ("Loyal", 1),
        ("Need Attention", 1),
        ("Hibernating", 1),
    ]
    by_id = {s.segment_id: s for s in result.segments}
    assert by_id["Loyal"].mean_monetary == 245.0  # 120 + 50 + 100 - 25
    assert by_id["Loyal"].revenue_share == pytest.approx(245 / 415)
    assert by_id["Hibernating"].mean_recency == 545.0
    assert result.segment_of("C5").segment_id == "Champions"  # type: ignore[union-attr]
    assert result.segment_of("C4") is None  # never ordered
    assert result.model_id is None
    assert_json_safe(result.metrics)
    assert_figure_loads(result.figure)
    assert_figure_loads(result.size_figure)


def test_rfm_needs_orders() -> None:
    with pytest.raises(InvalidArgumentError, match="RFM segments need orders"):
        segment_by_rfm(customer_table_frames())


def test_customer_features_from_request_fields() -> None:
    features = customer_features(
        2, "N1", {"recency": 3.0, "frequency": None}, {"monthly_charges": 70, "senior": True}
    )

    assert features.values == {"recency": 3.0, "monthly_charges": 70.0, "senior": 1.0}
    with pytest.raises(InvalidArgumentError, match=r"customers\[2\]\.attributes\.plan: expected"):
        customer_features(2, None, {}, {"plan": "gold"})
    with pytest.raises(InvalidArgumentError, match=r"customers\[1\]\.attributes\.debt: must be"):
        customer_features(1, None, {}, {"debt": float("inf")})
    with pytest.raises(InvalidArgumentError, match=r"customers\[1\]\.tenure: must be finite"):
        customer_features(1, None, {"tenure": float("-inf")})
    assert customer_features(1, None, {"tenure": float("nan")}, {"debt": None}).values == {}
    with pytest.raises(InvalidArgumentError, match=r"customers\[0\]\.attributes\.recency: .*also"):
        customer_features(0, None, {"recency": 1.0}, {"recency": 2.0})


def test_assign_segments_requires_what_training_always_had(tmp_path: Path) -> None:
    features = two_groups()
    trained = fit_segmentation(features, KMEANS)
    version = ModelVersion(
        id="m1",
        dataset_id="hand",
        dataset_version=1,
        kind="segmentation",
        method="kmeans",
        version=1,
        params=trained.params,
        features=list(trained.features),
        metrics=trained.metrics,
        fingerprint=trained.fingerprint,
        artifact_path="m1.joblib",
    )
    loyal_values = {"recency": 4.0, "frequency": 11.0, "monetary": 1300.0, "tenure": 800.0}
    loyal = customer_features(0, "new-loyal", loyal_values)
    lapsed_values = {"recency": 400.0, "frequency": 1.0, "monetary": 10.0, "tenure": 400.0}
    lapsed = customer_features(1, "new-lapsed", {**lapsed_values, "satisfaction_score": 1.0})

    assigned = assign_segments(trained.estimator, version, [loyal, lapsed])

    # Satisfaction is optional (two training customers lacked it): imputed.
    labels = {a.customer_id: a.label for a in assigned}
    assert labels == {
        "new-loyal": "High value, recent, frequent",
        "new-lapsed": "Low value, lapsed, infrequent",
    }
    assert assign_segments(trained.estimator, version, []) == ()
    missing = customer_features(1, None, {"recency": 4.0, "frequency": 11.0, "tenure": 1.0})
    with pytest.raises(InvalidArgumentError, match=r"customers\[1\]: 'monetary' is missing"):
        assign_segments(trained.estimator, version, [loyal, missing])


@pytest.fixture
def demo_store(sqlite_engine: Engine, tmp_path: Path) -> AnalyticsStore:
    create_demo_dataset(sqlite_engine, "demo", customers=300)
    return AnalyticsStore(sqlite_engine, snapshot_dir=tmp_path / "frames")


def test_a_fit_that_takes_too_long_is_stopped(demo_store: AnalyticsStore, tmp_path: Path) -> None:
    with pytest.raises(TrainingTimeoutError, match=r"longer than 0\.001 s") as raised:
        segment_dataset(demo_store, "demo", KMEANS, model_dir=tmp_path, timeout=0.001)
    assert raised.value.code == "TIMEOUT"
    with pytest.raises(TrainingTimeoutError):
        train_segmentation_model(demo_store, tmp_path / "models", "demo", DBSCAN, timeout=0.001)
    # Nothing half-written: no version, no file.
    assert list_model_versions(demo_store.engine) == []
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_segment_dataset_fits_on_the_fly_then_uses_the_stored_model(
    demo_store: AnalyticsStore, tmp_path: Path
) -> None:
    model_dir = tmp_path / "models"

    ad_hoc = segment_dataset(demo_store, "demo", KMEANS, model_dir=model_dir, timeout=120)
    again = segment_dataset(demo_store, "demo", KMEANS, model_dir=model_dir, timeout=120)
    stored = train_segmentation_model(demo_store, model_dir, "demo", KMEANS, timeout=120)
    served = segment_dataset(demo_store, "demo", KMEANS, model_dir=model_dir, timeout=120)

    assert ad_hoc.model_id is None
    assert again is ad_hoc  # cached per dataset version
    assert (served.model_id, served.model_version) == (stored.id, 1)
    assert stored.dataset_version == 1
    # Same data, same seed: the stored model assigns what the ad hoc fit did.
    pd.testing.assert_series_equal(served.customers["label"], ad_hoc.customers["label"])
    assert served.customer_count == 300
    with pytest.raises(InvalidArgumentError, match="method: RFM"):
        train_segmentation_model(demo_store, model_dir, "demo", RFM, timeout=120)
    rows = build_customer_features(demo_store.frames("demo")).iloc[:5]
    request = [
        customer_features(i, str(i), {name: row[name] for name in stored.features})
        for i, (_, row) in enumerate(rows.iterrows())
    ]
    assigned = predict_segments(demo_store, model_dir, stored.id, request)
    assert [a.segment_id for a in assigned] == served.customers["segment_id"].iloc[:5].tolist()
    with pytest.raises(InvalidArgumentError, match="at most 10,000 per call, got 10,001"):
        predict_segments(demo_store, model_dir, stored.id, request[:1] * 10_001)


TELCO_HEADER = "customerID,gender,SeniorCitizen,tenure,Contract,MonthlyCharges,TotalCharges,Churn\n"
RETAIL_HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
)


def retail_export() -> str:
    """Ten customers with five November invoices of 10 x 20.00, ten with one January one of 5.00."""
    lines = []
    for customer in range(12001, 12011):
        for day in range(1, 6):
            invoice = f"{customer}{day}"
            lines.append(f"{invoice},85123A,HEART,10,2011-11-0{day} 10:00,20.00,{customer},UK\n")
    for customer in range(13001, 13011):
        day = customer - 13000
        lines.append(f"9{customer},71053,LANTERN,1,2011-01-{day:02d} 09:00,5.00,{customer},FR\n")
    return RETAIL_HEADER + "".join(lines)


def telco_export() -> str:
    rows = [
        f"L-{i},Female,0,{60 + i},Two year,{20 + i}.5,{(60 + i) * (20 + i)},No\n" for i in range(8)
    ] + [
        f"N-{i},Male,1,{1 + i},Month-to-month,{90 + i}.5,{(1 + i) * (90 + i)},Yes\n"
        for i in range(8)
    ]
    return TELCO_HEADER + "".join(rows)


def test_an_uploaded_sales_export(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "online_retail.csv"
    path.write_text(retail_export())
    import_file(sqlite_engine, path, "retail")
    store = AnalyticsStore(sqlite_engine)

    kmeans = segment_dataset(store, "retail", KMEANS, model_dir=None, timeout=120)
    rfm = segment_dataset(store, "retail", RFM, model_dir=None, timeout=120)

    by_source_id = kmeans.customers.set_index("external_id")["segment_id"]
    by_id = {segment.segment_id: segment for segment in kmeans.segments}
    big, small = by_id[by_source_id["12001"]], by_id[by_source_id["13001"]]
    assert (big.size, small.size) == (10, 10)
    assert set(by_source_id.loc[[str(c) for c in range(12001, 12011)]]) == {big.segment_id}
    assert big.mean_frequency == 5.0
    assert big.mean_monetary == pytest.approx(1000.0)  # 5 x 10 x 20.00
    assert small.mean_monetary == pytest.approx(5.0)
    assert big.revenue_share == pytest.approx(10_000 / 10_050)
    assert big.label == "High value, recent, frequent"
    assert sum(s.size for s in rfm.segments) == 20
    assert_figure_loads(kmeans.figure)
    dbscan = segment_dataset(store, "retail", DBSCAN, model_dir=None, timeout=120)
    assert sum(s.size for s in dbscan.segments) == 20
    assert_json_safe([kmeans.metrics, dbscan.metrics, rfm.metrics])


def test_an_uploaded_customer_table(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "telco.csv"
    path.write_text(telco_export())
    import_file(sqlite_engine, path, "telco")
    store = AnalyticsStore(sqlite_engine)

    result = segment_dataset(store, "telco", KMEANS, model_dir=None, timeout=120)

    assert set(result.features) == {"senior_citizen", "tenure", "monthly_charges", "total_charges"}
    by_source_id = result.customers.set_index("external_id")["segment_id"]
    by_id = {segment.segment_id: segment for segment in result.segments}
    loyal, new = by_id[by_source_id["L-0"]], by_id[by_source_id["N-0"]]
    assert (loyal.size, new.size) == (8, 8)
    assert dict(loyal.feature_means)["tenure"] == pytest.approx(63.5)  # 60..67
    assert dict(new.feature_means)["monthly_charges"] == pytest.approx(94.0)  # 90.5..97.5
    assert set(by_source_id.loc[[f"N-{i}" for i in range(8)]]) == {new.segment_id}
    with pytest.raises(InvalidArgumentError, match="RFM segments need orders"):
        segment_dataset(store, "telco", RFM, model_dir=None, timeout=120)


def test_upload_report_part_is_json_ready() -> None:
    frames = frames_from_tables("demo", 1, generate_demo_tables(300))

    report = segmentation_report(applied(build_customer_features(frames), KMEANS))

    assert_json_safe(report)
    metrics = report["cluster_metrics"]
    assert len(report["segmented_customers"]) == 300
    assert sum(metrics["cluster_sizes"].values()) == 300
    assert metrics["method"] == "kmeans"
    assert {c["cluster"] for c in metrics["clusters"]} == {
        c["cluster"] for c in report["segmented_customers"]
    }
    assert set(report["segmented_customers"][0]) == {"customer_id", "cluster", "segment"}


@pytest.mark.parametrize("method", [KMEANS, DBSCAN])
def test_the_demo_store_trains_quickly_with_no_nan(method: SegmentationMethod) -> None:
    frames = frames_from_tables("demo", 1, generate_demo_tables(2000))
    features = build_customer_features(frames)

    started = time.monotonic()
    result = applied(features, method)
    elapsed = time.monotonic() - started

    assert elapsed < 30
    assert result.customer_count == 2000
    assert sum(s.size for s in result.segments) == 2000
    assert len({s.label for s in result.segments}) == len(result.segments)
    assert_json_safe([result.metrics, result.params])
    for segment in result.segments:
        values = [segment.share, segment.mean_recency, segment.mean_monetary, segment.revenue_share]
        assert all(v is not None and np.isfinite(v) for v in values)
    assert_figure_loads(result.figure)
    assert_figure_loads(result.size_figure)
