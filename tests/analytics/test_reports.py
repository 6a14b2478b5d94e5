from __future__ import annotations

import datetime as dt

import pytest

from analytics.errors import CustomerNotFoundError, InvalidArgumentError
from analytics.frames import DatasetFrames
from analytics.reports import (
    FavouriteCategory,
    FavouriteProduct,
    MonthlySpend,
    build_customer_report,
)

D = dt.date


def test_report_of_a_customer(frames: DatasetFrames) -> None:
    report = build_customer_report(frames, "C1")

    assert (report.customer_id, report.name, report.email) == ("C1", "Alice", "alice@example.com")
    assert (report.region, report.country) == ("North", "NO")
    assert report.signup_date == D(2022, 1, 1)
    assert report.satisfaction_score == 4.0
    # Orders 101 (120), 103 (50), 105 (100), 106 (-25): 245 over 4.
    assert report.lifetime_value == pytest.approx(245.0)
    assert report.order_count == 4
    assert report.average_order_value == pytest.approx(61.25)
    assert report.first_order_date == D(2022, 3, 15)
    assert report.last_order_date == D(2023, 6, 30)
    # asOf 2023-12-31 - 2023-06-30 = 31 + 31 + 30 + 31 + 30 + 31 = 184 days.
    assert report.days_since_last_order == 184


def test_report_monthly_spend_fills_empty_months(frames: DatasetFrames) -> None:
    spend = build_customer_report(frames, "C1").monthly_spend

    # 2022-03 .. 2023-06 is 16 months.
    assert len(spend) == 16
    assert spend[0] == MonthlySpend(D(2022, 3, 1), 120.0)
    assert spend[1] == MonthlySpend(D(2022, 4, 1), 0.0)
    assert spend[-1] == MonthlySpend(D(2023, 6, 1), -25.0)
    assert sum(month.revenue for month in spend) == pytest.approx(245.0)


def test_report_favourites(frames: DatasetFrames) -> None:
    report = build_customer_report(frames, "C1")

    # SKU-C: 100 + 100; SKU-A: 20 + 50 over 2 + 5 units; SKU-B: the -25 return.
    assert report.favourite_products == (
        FavouriteProduct("SKU-C", "Support plan", 2.0, 200.0),
        FavouriteProduct("SKU-A", "Widget", 7.0, 70.0),
        FavouriteProduct("SKU-B", "Gadget", -1.0, -25.0),
    )
    # Services 200 / 245; Hardware 70 - 25 = 45 / 245.
    assert report.favourite_categories == (
        FavouriteCategory("Services", 200.0, pytest.approx(200 / 245)),
        FavouriteCategory("Hardware", 45.0, pytest.approx(45 / 245)),
    )
    assert set(report.figure) >= {"data", "layout"}


def test_report_keeps_top_five_products(make_frames) -> None:
    products = [(i, f"SKU-{i}", f"P{i}", "X", 1.0) for i in range(1, 8)]
    # Product i sells once for i, so the top five by revenue are products 7 down to 3.
    items = [(1, i, 1.0, float(i), float(i)) for i in range(1, 8)]
    frames = make_frames(
        customers=[(1, "C1", "A", None, None, None, None, None)],
        products=products,
        orders=[(1, "O1", 1, "2020-01-01", "completed", None, None, 28.0)],
        items=items,
    )

    report = build_customer_report(frames, "C1")

    assert [p.sku for p in report.favourite_products] == [
        "SKU-7", "SKU-6", "SKU-5", "SKU-4", "SKU-3",
    ]  # fmt: skip


def test_report_of_a_customer_without_orders(frames: DatasetFrames) -> None:
    report = build_customer_report(frames, "C4")

    assert report.lifetime_value == 0.0
    assert report.order_count == 0
    assert report.average_order_value is None
    assert report.last_order_date is None
    assert report.days_since_last_order is None
    assert report.monthly_spend == ()
    assert report.favourite_products == ()
    assert report.favourite_categories == ()
    assert report.signup_date is None
    assert report.satisfaction_score is None


def test_unknown_customer(frames: DatasetFrames) -> None:
    with pytest.raises(CustomerNotFoundError) as raised:
        build_customer_report(frames, "C99")

    assert raised.value.customer_id == "C99"
    assert raised.value.dataset_id == "test"


def test_customer_id_is_the_external_id(frames: DatasetFrames) -> None:
    with pytest.raises(CustomerNotFoundError):
        build_customer_report(frames, "1")


def test_empty_customer_id(frames: DatasetFrames) -> None:
    with pytest.raises(InvalidArgumentError, match="customer_id"):
        build_customer_report(frames, "")
