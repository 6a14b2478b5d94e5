from __future__ import annotations

import datetime as dt
import json

import plotly.io as pio
import pytest

from analytics.errors import InvalidArgumentError
from analytics.frames import DatasetFrames
from analytics.periods import DateRange
from analytics.sales import (
    Granularity,
    ProductSales,
    RevenueGroupBy,
    RevenuePoint,
    compute_revenue_series,
    profile_seasonality,
    rank_top_customers,
    rank_top_products,
    summarize_categories,
    summarize_sales_reps,
)

D = dt.date


def _series(frames: DatasetFrames, granularity: Granularity, **kwargs) -> list[tuple]:
    result = compute_revenue_series(frames, granularity, **kwargs)
    return [(p.period_start, p.revenue, p.orders, p.group) for p in result.points]


def test_monthly_series_fills_empty_months(frames: DatasetFrames) -> None:
    result = compute_revenue_series(frames)

    # 2022-03 .. 2023-12 is 22 months; only 6 have orders.
    assert result.granularity is Granularity.MONTH
    assert len(result.points) == 22
    assert result.points[0] == RevenuePoint(D(2022, 3, 1), 120.0, 1)
    assert result.points[1] == RevenuePoint(D(2022, 4, 1), 0.0, 0)
    by_month = {p.period_start: p.revenue for p in result.points}
    assert by_month[D(2023, 6, 1)] == pytest.approx(-25.0)
    assert by_month[D(2023, 12, 1)] == pytest.approx(35.0)
    assert result.total_revenue == pytest.approx(415.0)
    assert sum(p.orders for p in result.points) == 7


def test_quarter_buckets(frames: DatasetFrames) -> None:
    # Q1 2022: 120; Q3: 100; Q4: 50 (2022-12-31); Q1 2023: 35 (01-02);
    # Q2 2023: 100 - 25 = 75; Q4 2023: 35.
    assert _series(frames, Granularity.QUARTER) == [
        (D(2022, 1, 1), 120.0, 1, None),
        (D(2022, 4, 1), 0.0, 0, None),
        (D(2022, 7, 1), 100.0, 1, None),
        (D(2022, 10, 1), 50.0, 1, None),
        (D(2023, 1, 1), 35.0, 1, None),
        (D(2023, 4, 1), 75.0, 2, None),
        (D(2023, 7, 1), 0.0, 0, None),
        (D(2023, 10, 1), 35.0, 1, None),
    ]


def test_year_buckets(frames: DatasetFrames) -> None:
    # 2022: 120 + 100 + 50 = 270; 2023: 35 + 100 - 25 + 35 = 145.
    assert _series(frames, Granularity.YEAR) == [
        (D(2022, 1, 1), 270.0, 3, None),
        (D(2023, 1, 1), 145.0, 4, None),
    ]


def test_weeks_start_on_monday(frames: DatasetFrames) -> None:
    period = DateRange(D(2022, 12, 26), D(2023, 1, 8))

    # Saturday 2022-12-31 belongs to the week of Monday 2022-12-26; Monday 2023-01-02
    # starts the next one.
    assert _series(frames, Granularity.WEEK, period=period) == [
        (D(2022, 12, 26), 50.0, 1, None),
        (D(2023, 1, 2), 35.0, 1, None),
    ]


def test_days_span_the_whole_period(frames: DatasetFrames) -> None:
    period = DateRange(D(2022, 12, 30), D(2023, 1, 2))

    assert _series(frames, Granularity.DAY, period=period) == [
        (D(2022, 12, 30), 0.0, 0, None),
        (D(2022, 12, 31), 50.0, 1, None),
        (D(2023, 1, 1), 0.0, 0, None),
        (D(2023, 1, 2), 35.0, 1, None),
    ]


def test_group_by_category(frames: DatasetFrames) -> None:
    # 2022: Hardware 20 + 100 + 50 = 170 (orders 101-103), Services 100 (101).
    # 2023: Hardware 25 - 25 = 0 (104, 106), Services 100 (105), no category 10 + 35 (104, 107).
    assert _series(frames, Granularity.YEAR, group_by=RevenueGroupBy.CATEGORY) == [
        (D(2022, 1, 1), 170.0, 3, "Hardware"),
        (D(2022, 1, 1), 100.0, 1, "Services"),
        (D(2023, 1, 1), 0.0, 2, "Hardware"),
        (D(2023, 1, 1), 100.0, 1, "Services"),
        (D(2023, 1, 1), 45.0, 2, "Unknown"),
    ]


def test_group_by_region(frames: DatasetFrames) -> None:
    # North = C1 + C3: 2023 is 35 + 100 - 25 = 110 over 3 orders; South = C2 + C5.
    assert _series(frames, Granularity.YEAR, group_by="REGION") == [
        (D(2022, 1, 1), 170.0, 2, "North"),
        (D(2022, 1, 1), 100.0, 1, "South"),
        (D(2023, 1, 1), 110.0, 3, "North"),
        (D(2023, 1, 1), 35.0, 1, "South"),
    ]


def test_group_by_sales_rep(frames: DatasetFrames) -> None:
    # 2023: Rita 105 (100); Sam 106 + 107 = -25 + 35 = 10; 104 has no rep.
    result = compute_revenue_series(frames, Granularity.YEAR, group_by=RevenueGroupBy.SALES_REP)

    assert [(p.group, p.revenue, p.orders) for p in result.points[2:]] == [
        ("Rita", 100.0, 1),
        ("Sam", 10.0, 2),
        ("Unknown", 35.0, 1),
    ]
    assert {trace["name"] for trace in result.figure["data"]} == {"Rita", "Sam", "Unknown"}


def test_series_figure(frames: DatasetFrames) -> None:
    figure = compute_revenue_series(frames, Granularity.YEAR).figure

    assert set(figure) >= {"data", "layout"}
    assert figure["data"][0]["x"] == ["2022-01-01", "2023-01-01"]
    assert figure["data"][0]["y"] == [270.0, 145.0]


def test_series_rejects_unknown_granularity(frames: DatasetFrames) -> None:
    with pytest.raises(InvalidArgumentError, match="granularity"):
        compute_revenue_series(frames, "HOUR")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="group_by"):
        compute_revenue_series(frames, group_by="COLOUR")  # type: ignore[arg-type]


def test_series_of_empty_dataset(empty_frames: DatasetFrames) -> None:
    result = compute_revenue_series(empty_frames)

    assert result.points == ()
    assert result.total_revenue == 0.0
    for group_by in RevenueGroupBy:
        assert compute_revenue_series(empty_frames, group_by=group_by).points == ()


def test_top_customers_by_lifetime_value(frames: DatasetFrames) -> None:
    result = rank_top_customers(frames, limit=3)

    # C1: 120 + 50 + 100 - 25 = 245 over 4 orders; C2: 100; C3 and C5 tie at 35.
    assert [(c.customer_id, c.name, c.lifetime_value, c.order_count) for c in result.items] == [
        ("C1", "Alice", 245.0, 4),
        ("C2", "Bob", 100.0, 1),
        ("C3", "Carol", 35.0, 1),
    ]
    assert set(result.figure) >= {"data", "layout"}


def test_top_customers_ties_break_by_external_id(make_frames) -> None:
    # Stored order (pk) is the reverse of external id order, so only the tie-break
    # puts A before B.
    frames = make_frames(
        customers=[
            (1, "B", "Second", None, None, None, None, None),
            (2, "A", "First", None, None, None, None, None),
            (3, "Z", "No orders", None, None, None, None, None),
        ],
        products=[(1, "P", "P", "X", 10.0)],
        orders=[
            (1, "O1", 1, "2020-01-01", "completed", None, None, 10.0),
            (2, "O2", 2, "2020-01-02", "completed", None, None, 10.0),
        ],
        items=[(1, 1, 1.0, 10.0, 10.0), (2, 1, 1.0, 10.0, 10.0)],
    )

    result = rank_top_customers(frames)

    assert [c.customer_id for c in result.items] == ["A", "B"]


@pytest.mark.parametrize("limit", [0, 1001, -3, 2.5, True])
def test_top_customers_rejects_bad_limit(frames: DatasetFrames, limit: object) -> None:
    with pytest.raises(InvalidArgumentError, match="limit"):
        rank_top_customers(frames, limit=limit)  # type: ignore[arg-type]


def test_category_performance(frames: DatasetFrames) -> None:
    result = summarize_categories(frames)

    # Services: 100 + 100 = 200, orders 101 and 105, qty 2, customer C1.
    # Hardware: 20 + 100 + 50 + 25 - 25 = 170, orders 101-104 and 106, qty 2+4+5+1-1 = 11,
    #   customers C1, C2, C3.
    # Unknown: 10 + 35 = 45, orders 104 and 107, qty 2 + 7 = 9, customers C3, C5.
    rows = [
        (c.category, c.revenue, c.orders, c.quantity, c.customers, c.average_order_value)
        for c in result.items
    ]
    assert rows == [
        ("Services", 200.0, 2, 2.0, 1, 100.0),
        ("Hardware", 170.0, 5, 11.0, 3, 34.0),
        ("Unknown", 45.0, 2, 9.0, 2, 22.5),
    ]
    assert [c.revenue_share for c in result.items] == pytest.approx(
        [200 / 415, 170 / 415, 45 / 415]
    )
    assert result.figure["data"][0]["x"] == ["Services", "Hardware", "Unknown"]


def test_category_performance_in_period(frames: DatasetFrames) -> None:
    result = summarize_categories(frames, period=DateRange(D(2023, 1, 1), D(2023, 12, 31)))

    # 2023: Services 100, Unknown 45, Hardware 25 - 25 = 0; total 145.
    assert [(c.category, c.revenue) for c in result.items] == [
        ("Services", 100.0),
        ("Unknown", 45.0),
        ("Hardware", 0.0),
    ]
    assert result.items[0].revenue_share == pytest.approx(100 / 145)


def test_sales_rep_performance(frames: DatasetFrames) -> None:
    result = summarize_sales_reps(frames)

    # Rita: 101 + 103 + 105 = 120 + 50 + 100 = 270, all C1.
    # Sam: 102 + 106 + 107 = 100 - 25 + 35 = 110, customers C2, C1, C5. Tom: nothing.
    rows = [
        (r.sales_rep_id, r.name, r.region, r.orders_closed, r.revenue, r.customers)
        for r in result.items
    ]
    assert rows == [
        (1, "Rita", "North", 3, 270.0, 1),
        (2, "Sam", "South", 3, 110.0, 3),
        (3, "Tom", "West", 0, 0.0, 0),
    ]
    assert result.items[0].average_order_value == pytest.approx(90.0)
    assert result.items[2].average_order_value is None
    assert set(result.figure) >= {"data", "layout"}


def test_sales_rep_performance_in_period(frames: DatasetFrames) -> None:
    result = summarize_sales_reps(frames, period=DateRange(D(2023, 1, 1), D(2023, 12, 31)))

    # 2023: Rita 105 (100); Sam 106 + 107 = 10.
    assert [(r.name, r.orders_closed, r.revenue) for r in result.items] == [
        ("Rita", 1, 100.0),
        ("Sam", 2, 10.0),
        ("Tom", 0, 0.0),
    ]


def test_breakdowns_of_empty_dataset(empty_frames: DatasetFrames) -> None:
    assert summarize_categories(empty_frames).items == ()
    assert summarize_sales_reps(empty_frames).items == ()
    assert rank_top_customers(empty_frames).items == ()


def test_top_products_by_revenue(frames: DatasetFrames) -> None:
    result = rank_top_products(frames, limit=3)

    # SKU-C: 101 100 + 105 100 = 200 (qty 2); SKU-B: 102 100 + 104 25 + 106 -25 = 100
    # (qty 4 + 1 - 1, orders 3); SKU-A: 101 20 + 103 50 = 70; SKU-D (45) is fourth.
    assert result.items == (
        ProductSales("SKU-C", "Support plan", "Services", 200.0, 2.0, 2, 200 / 415),
        ProductSales("SKU-B", "Gadget", "Hardware", 100.0, 4.0, 3, 100 / 415),
        ProductSales("SKU-A", "Widget", "Hardware", 70.0, 7.0, 2, 70 / 415),
    )
    assert result.total_revenue == pytest.approx(415.0)
    figure = pio.from_json(json.dumps(result.figure))
    assert list(figure.data[0].y) == ["Support plan (SKU-C)", "Gadget (SKU-B)", "Widget (SKU-A)"]


def test_top_products_in_period_break_ties_by_sku(frames: DatasetFrames) -> None:
    result = rank_top_products(frames, period=DateRange(D(2023, 1, 1), D(2023, 12, 31)))

    # 2023: SKU-C 100; SKU-D 10 + 35 = 45 (no category); SKU-B 25 - 25 = 0.
    assert [(p.sku, p.category, p.revenue, p.orders) for p in result.items] == [
        ("SKU-C", "Services", 100.0, 1),
        ("SKU-D", None, 45.0, 2),
        ("SKU-B", "Hardware", 0.0, 2),
    ]
    with pytest.raises(InvalidArgumentError, match="limit"):
        rank_top_products(frames, limit=0)


def test_seasonality_by_month_of_year(frames: DatasetFrames) -> None:
    result = profile_seasonality(frames)

    # Span 2022-03-15 .. 2023-12-30: March to December occur twice, January and
    # February once. Revenue: Jan 35, Mar 120, Apr 100, Jun -25, Jul 100, Dec 85.
    # Averages 35, 0, 60, 50, 0, -12.5, 50, 0, 0, 0, 0, 42.5; their mean is 18.75.
    assert (result.first_day, result.last_day) == (D(2022, 3, 15), D(2023, 12, 30))
    rows = [(m.month, m.name, m.revenue, m.periods, m.average) for m in result.by_month]
    assert rows[:3] == [
        (1, "January", 35.0, 1, 35.0),
        (2, "February", 0.0, 1, 0.0),
        (3, "March", 120.0, 2, 60.0),
    ]
    assert [m.revenue for m in result.by_month] == [35, 0, 120, 100, 0, -25, 100, 0, 0, 0, 0, 85]
    assert [m.periods for m in result.by_month] == [1, 1] + [2] * 10
    indexes = [m.index for m in result.by_month]
    assert indexes == pytest.approx(
        [a / 18.75 for a in (35, 0, 60, 50, 0, -12.5, 50, 0, 0, 0, 0, 42.5)]
    )
    assert sum(index or 0.0 for index in indexes) == pytest.approx(12.0)
    assert pio.from_json(json.dumps(result.month_figure)).data


def test_seasonality_by_weekday(frames: DatasetFrames) -> None:
    result = profile_seasonality(frames)

    # 656 days from a Tuesday: 93 weeks and Tuesday..Saturday once more. Revenue:
    # Monday 100 + 35, Tuesday 120, Friday -25, Saturday 50 + 100 + 35.
    days = [(d.day, d.weekday, d.revenue, d.periods) for d in result.by_weekday]
    assert days == [
        (1, "Monday", 135.0, 93),
        (2, "Tuesday", 120.0, 94),
        (3, "Wednesday", 0.0, 94),
        (4, "Thursday", 0.0, 94),
        (5, "Friday", -25.0, 94),
        (6, "Saturday", 185.0, 94),
        (7, "Sunday", 0.0, 93),
    ]
    mean = (135 / 93 + 280 / 94) / 7
    assert result.by_weekday[0].index == pytest.approx(135 / 93 / mean)
    assert result.by_weekday[5].index == pytest.approx(185 / 94 / mean)
    assert pio.from_json(json.dumps(result.weekday_figure)).data


def test_seasonality_of_a_period_spans_the_whole_period(frames: DatasetFrames) -> None:
    result = profile_seasonality(frames, period=DateRange(D(2023, 1, 1), D(2023, 12, 31)))

    # 2023 is one of each month; 365 days = 52 weeks + a Sunday (1 January).
    assert [m.periods for m in result.by_month] == [1] * 12
    assert [d.periods for d in result.by_weekday] == [52] * 6 + [53]
    assert result.by_month[11].revenue == 35.0


def test_top_products_and_seasonality_of_empty_dataset(empty_frames: DatasetFrames) -> None:
    assert rank_top_products(empty_frames).items == ()
    result = profile_seasonality(empty_frames)
    assert result.first_day is None
    assert [(m.revenue, m.periods, m.average, m.index) for m in result.by_month] == [
        (0.0, 0, None, None)
    ] * 12
    assert len(result.by_weekday) == 7
    assert all(d.index is None for d in result.by_weekday)
