"""Customer feature tables shared by segmentation, churn and drift.

One row per customer: behaviour from the orders (RFM, tenure) when the
dataset has orders, plus the numeric and categorical columns an uploaded
customer table carried (``attributes``) and the customer fields every
dataset has (satisfaction, region).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import pandas as pd

from analytics.frames import DatasetFrames
from analytics.rfm import compute_rfm_values

RFM_FEATURES = ("recency", "frequency", "monetary")
# Label columns describe the outcome, not the customer: never features.
LABEL_ATTRIBUTES = frozenset({"churn"})
# Attributes named like identifiers (customer_id, row_number, zip_code...)
# number customers rather than describe them: never features.
IDENTIFIER_NAME = re.compile(r"(^|_)(id|ids|key|number|no|num|code|index|row|uuid)$")
# A text attribute with more distinct values than this is an identifier or
# free text, not a category.
MAX_CATEGORIES = 50


def build_customer_features(frames: DatasetFrames, as_of: dt.date | None = None) -> pd.DataFrame:
    """The features of every customer, indexed by ``customer_id``.

    With orders: only customers who ordered before ``as_of`` (default the day
    after the latest order), with ``recency``, ``frequency``, ``monetary``
    (see :mod:`analytics.rfm`) and ``tenure`` (days since the first order).
    Without orders (a customer table): every customer.

    Either way the frame carries ``satisfaction_score`` when any customer has
    one, every numeric attribute (float64, NaN when missing), ``region``
    when known and every text attribute with at most :data:`MAX_CATEGORIES`
    values (object, None when missing). Label attributes such as ``churn``
    and identifiers (names matching :data:`IDENTIFIER_NAME`) are left out.
    Columns with no value at all are dropped.
    """
    customers = frames.customers.set_index("customer_id")
    if frames.orders.empty:
        features = pd.DataFrame(index=customers.index)
    else:
        as_of = as_of or frames.default_as_of
        values = compute_rfm_values(frames, as_of)
        features = values[list(RFM_FEATURES)].astype("float64")
        features["tenure"] = (pd.Timestamp(as_of) - values["first_order_date"]).dt.days.astype(
            "float64"
        )
    rows = features.index
    features["satisfaction_score"] = customers["satisfaction_score"].reindex(rows)
    attributes = frames.customer_attributes.reindex(rows)
    for column in attributes.columns:
        if (
            column in LABEL_ATTRIBUTES
            or column in features.columns
            or IDENTIFIER_NAME.search(column)
        ):
            continue
        values = attributes[column]
        if values.dtype.kind == "f":
            features[column] = values
        elif values.nunique() <= MAX_CATEGORIES:
            features[column] = values.astype("object")
    features["region"] = customers["region"].reindex(rows).astype("object")
    present = [c for c in features.columns if features[c].notna().any()]
    return features[present]


def numeric_feature_names(features: pd.DataFrame) -> list[str]:
    """The float columns of a feature frame, in order."""
    return [c for c in features.columns if features[c].dtype.kind == "f"]


def categorical_feature_names(features: pd.DataFrame) -> list[str]:
    """The text (category) columns of a feature frame, in order."""
    return [c for c in features.columns if features[c].dtype.kind != "f"]


def describe_reference(
    features: pd.DataFrame, max_rows: int = 5000, random_state: int = 0
) -> dict[str, Any]:
    """A JSON-safe sample of ``features`` kept with a model to test later data for drift.

    Keeps up to ``max_rows`` rows (a fixed random sample beyond that), each
    column's kind and the full row count. Read back with :func:`reference_features`.
    """
    sample = features
    if len(sample) > max_rows:
        sample = sample.sample(max_rows, random_state=random_state)
    columns: dict[str, Any] = {}
    for name in features.columns:
        values = sample[name]
        if values.dtype.kind == "f":
            columns[name] = {
                "kind": "numeric",
                "values": [None if math.isnan(v) else v for v in values.tolist()],
            }
        else:
            columns[name] = {
                "kind": "categorical",
                "values": [None if pd.isna(v) else str(v) for v in values.tolist()],
            }
    return {"rows": len(features), "sample_rows": len(sample), "columns": columns}


def reference_features(reference: dict[str, Any]) -> pd.DataFrame:
    """The feature sample stored by :func:`describe_reference`, as a frame of the same kinds."""
    data: dict[str, pd.Series] = {}
    for name, column in reference["columns"].items():
        if column["kind"] == "numeric":
            data[name] = pd.Series(column["values"], dtype="float64")
        else:
            data[name] = pd.Series(column["values"], dtype="object")
    return pd.DataFrame(data)
