from __future__ import annotations

import pandas as pd
import pytest

from analytics.customers import (
    CUSTOMER_SUMMARY_COLUMNS,
    RegionSatisfaction,
    SatisfactionBucket,
    summarize_customers,
    summarize_satisfaction,
)
from analytics.frames import DatasetFrames


def test_summary_has_one_row_per_customer(frames: DatasetFrames) -> None:
    summary = summarize_customers(frames)

    assert list(summary.columns) == CUSTOMER_SUMMARY_COLUMNS
    assert summary["external_id"].tolist() == ["C1", "C2", "C3", "C4", "C5"]
    # C1: 120 + 50 + 100 - 25 = 245 over orders 101, 103, 105, 106.
    assert summary["lifetime_value"].tolist() == [245.0, 100.0, 35.0, 0.0, 35.0]
    assert summary["order_count"].tolist() == [4, 1, 1, 0, 1]
    assert summary["order_count"].dtype == "int64"


def test_summary_order_dates(frames: DatasetFrames) -> None:
    summary = summarize_customers(frames).set_index("external_id")

    assert summary.loc["C1", "first_order_date"] == pd.Timestamp("2022-03-15")
    assert summary.loc["C1", "last_order_date"] == pd.Timestamp("2023-06-30")
    assert pd.isna(summary.loc["C4", "first_order_date"])
    assert pd.isna(summary.loc["C4", "last_order_date"])


def test_summary_of_customers_without_any_orders(make_frames) -> None:
    frames = make_frames(customers=[(1, "C1", "A", None, None, None, None, None)])

    summary = summarize_customers(frames)

    assert summary["lifetime_value"].tolist() == [0.0]
    assert summary["order_count"].tolist() == [0]
    assert summary["last_order_date"].isna().all()


def test_summary_of_empty_dataset(empty_frames: DatasetFrames) -> None:
    summary = summarize_customers(empty_frames)

    assert summary.empty
    assert list(summary.columns) == CUSTOMER_SUMMARY_COLUMNS


def test_satisfaction(frames: DatasetFrames) -> None:
    result = summarize_satisfaction(frames)

    # Scores 4.0, 5.0, 2.5, 3.0 (C4 has none): mean 14.5 / 4, median (3.0 + 4.0) / 2.
    assert result.respondents == 4
    assert result.average == pytest.approx(3.625)
    assert result.median == pytest.approx(3.5)
    # 2.5 rounds half up to 3.
    assert result.distribution == (
        SatisfactionBucket("3", 2),
        SatisfactionBucket("4", 1),
        SatisfactionBucket("5", 1),
    )
    # North: (4.0 + 2.5) / 2; South: (5.0 + 3.0) / 2.
    assert result.by_region == (
        RegionSatisfaction("North", 3.25, 2),
        RegionSatisfaction("South", 4.0, 2),
    )
    assert result.figure["data"][0]["x"] == ["3", "4", "5"]


def test_satisfaction_unknown_region(make_frames) -> None:
    frames = make_frames(customers=[(1, "C1", "A", None, None, None, None, 4.4)])

    result = summarize_satisfaction(frames)

    assert result.by_region == (RegionSatisfaction("Unknown", 4.4, 1),)
    assert result.distribution == (SatisfactionBucket("4", 1),)


def test_satisfaction_without_respondents(empty_frames: DatasetFrames) -> None:
    result = summarize_satisfaction(empty_frames)

    assert result.respondents == 0
    assert result.average is None
    assert result.median is None
    assert result.distribution == ()
    assert set(result.figure) >= {"data", "layout"}
