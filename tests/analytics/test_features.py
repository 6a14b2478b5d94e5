"""Customer feature tables: behaviour from orders plus uploaded attributes."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from analytics.db import replace_dataset
from analytics.features import (
    build_customer_features,
    categorical_feature_names,
    describe_reference,
    numeric_feature_names,
    reference_features,
)
from analytics.frames import DatasetFrames, build_frames, load_frames
from tests.analytics.conftest import (
    ITEM_COLUMNS,
    ORDER_COLUMNS,
    PRODUCT_COLUMNS,
    SALES_REP_COLUMNS,
)
from tests.conftest import tiny_tables


def _customer_table() -> DatasetFrames:
    attributes = [
        {
            "tenure": 3,
            "monthly_charges": 70.5,
            "contract": "Month-to-month",
            "churn": True,
            "row_number": 1,
            "zip_code": "10115",
        },
        {"tenure": 40, "monthly_charges": 20.0, "contract": "Two year", "churn": False},
        {"tenure": 12, "contract": "One year", "customer_code": "X-1"},
        None,
    ]
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4],
            "external_id": ["A", "B", "C", "D"],
            "name": [None] * 4,
            "email": [None] * 4,
            "region": ["North", None, "South", None],
            "country": [None] * 4,
            "signup_date": [None] * 4,
            "satisfaction_score": [None] * 4,
            "attributes": [json.dumps(a) if a else None for a in attributes],
        }
    )
    return build_frames(
        "telco",
        1,
        customers,
        pd.DataFrame(columns=PRODUCT_COLUMNS),
        pd.DataFrame(columns=SALES_REP_COLUMNS),
        pd.DataFrame(columns=ORDER_COLUMNS),
        pd.DataFrame(columns=ITEM_COLUMNS),
    )


def test_attributes_become_typed_columns() -> None:
    attributes = _customer_table().customer_attributes

    assert attributes.loc[1, "tenure"] == 3.0
    assert attributes["tenure"].dtype == "float64"
    assert math.isnan(attributes.loc[3, "monthly_charges"])
    assert attributes["churn"].tolist()[:2] == [1.0, 0.0]
    assert attributes.loc[2, "contract"] == "Two year"
    assert attributes["contract"].dtype.kind != "f"


def test_customer_table_features_are_its_attributes_without_the_label() -> None:
    features = build_customer_features(_customer_table())

    assert list(features.index) == [1, 2, 3, 4]
    assert "churn" not in features
    assert "row_number" not in features and "zip_code" not in features  # identifiers
    assert numeric_feature_names(features) == ["monthly_charges", "tenure"]  # sorted keys
    assert categorical_feature_names(features) == ["contract", "region"]
    assert "recency" not in features  # no orders


def test_order_features_use_rfm_and_tenure(frames: DatasetFrames) -> None:
    features = build_customer_features(frames)

    # C1: first order 2022-03-15, asOf 2023-12-31 -> tenure 656 days.
    assert features.loc[1, ["recency", "frequency", "monetary", "tenure"]].tolist() == [
        184.0, 4.0, 245.0, 656.0
    ]  # fmt: skip
    assert features.loc[1, "satisfaction_score"] == 4.0
    assert features.loc[1, "region"] == "North"
    assert 4 not in features.index


def test_reference_round_trips_through_json(frames: DatasetFrames) -> None:
    features = build_customer_features(frames)

    reference = json.loads(json.dumps(describe_reference(features)))
    restored = reference_features(reference)

    assert reference["rows"] == 4
    pd.testing.assert_frame_equal(restored, features.reset_index(drop=True))


def test_reference_keeps_a_fixed_sample_of_large_tables() -> None:
    features = pd.DataFrame({"x": [float(i) for i in range(100)]})

    first = describe_reference(features, max_rows=10)
    again = describe_reference(features, max_rows=10)

    assert first == again
    assert (first["rows"], first["sample_rows"]) == (100, 10)


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"], indirect=True)
def test_attributes_survive_the_database(engine: Engine) -> None:
    tables = tiny_tables()
    tables.customers["attributes"] = [{"plan": "gold", "seats": 3}, None, {"seats": 1}, None]
    replace_dataset(engine, "tiny", "Tiny", tables)

    attributes = load_frames(engine, "tiny", 1).customer_attributes

    assert attributes.loc[1, "seats"] == 3.0
    assert math.isnan(attributes.loc[2, "seats"])
    assert attributes.loc[3, "seats"] == 1.0
    assert attributes.loc[1, "plan"] == "gold"
