from __future__ import annotations

import datetime as dt

import pytest

from analytics.errors import InvalidArgumentError
from analytics.frames import DatasetFrames
from analytics.kpis import compute_kpis
from analytics.periods import DateRange


def test_default_windows_end_the_day_before_as_of(frames: DatasetFrames) -> None:
    kpis = compute_kpis(frames)

    # Latest order 2023-12-30 -> asOf 2023-12-31; the current window is the 365 days
    # ending 2023-12-30 (2022-12-31..2023-12-30), the previous one the 365 days before.
    assert kpis.as_of == dt.date(2023, 12, 31)
    assert kpis.period == DateRange(dt.date(2022, 12, 31), dt.date(2023, 12, 30))
    assert kpis.previous_period == DateRange(dt.date(2021, 12, 31), dt.date(2022, 12, 30))


def test_default_totals_cover_all_time(frames: DatasetFrames) -> None:
    kpis = compute_kpis(frames)

    # 120 + 100 + 50 + 35 + 100 - 25 + 35 = 415 over orders 101..107.
    assert kpis.total_revenue == pytest.approx(415.0)
    assert kpis.total_lifetime_value == pytest.approx(415.0)
    assert kpis.order_count == 7
    assert kpis.average_order_value == pytest.approx(415.0 / 7)
    assert kpis.total_customers == 5
    assert kpis.average_lifetime_value == pytest.approx(415.0 / 5)


def test_default_retention_and_active_customers(frames: DatasetFrames) -> None:
    kpis = compute_kpis(frames)

    # Previous window 2021-12-31..2022-12-30: C1 (101), C2 (102).
    # Current 2022-12-31..2023-12-30: C1 (103, 105, 106), C3 (104), C5 (107).
    # Retained: C1 of {C1, C2} -> 50 %.
    assert kpis.active_customers == 3
    assert kpis.previous_active_customers == 2
    assert kpis.retained_customers == 1
    assert kpis.retention_rate == pytest.approx(50.0)


def test_explicit_period(frames: DatasetFrames) -> None:
    period = DateRange(dt.date(2023, 1, 1), dt.date(2023, 6, 30))

    kpis = compute_kpis(frames, period=period)

    # 181 days; the previous window is the 181 days ending 2022-12-31: 2022-07-04..2022-12-31.
    assert kpis.period == period
    assert kpis.previous_period == DateRange(dt.date(2022, 7, 4), dt.date(2022, 12, 31))
    # In the period: 104 (35), 105 (100), 106 (-25) -> 110 over 3 orders.
    assert kpis.total_revenue == pytest.approx(110.0)
    assert kpis.order_count == 3
    assert kpis.average_order_value == pytest.approx(110.0 / 3)
    # Lifetime value up to 2023-06-30: 415 - 35 (order 107) = 380.
    assert kpis.total_lifetime_value == pytest.approx(380.0)
    # Previous buyers C2 (102 on 07-04), C1 (103); current C3, C1 -> 1 of 2 = 50 %.
    assert kpis.retention_rate == pytest.approx(50.0)
    assert kpis.active_customers == 2
    # Existing by 2023-06-30: C1, C2, C3 (signed up later but ordered 2023-01-02), C4
    # (no signup date, no orders); not C5 (signed up and ordered in late 2023) -> 4.
    assert kpis.total_customers == 4
    assert kpis.average_lifetime_value == pytest.approx(380.0 / 4)


def test_period_counts_customers_by_first_order_before_signup(frames: DatasetFrames) -> None:
    kpis = compute_kpis(frames, period=DateRange(dt.date(2023, 1, 1), dt.date(2023, 1, 31)))

    # C3 signs up 2023-03-01 but first ordered 2023-01-02: counted. C1, C2, C4 too; C5 not.
    assert kpis.total_customers == 4
    # Previous window 2022-12-01..2022-12-31: C1 (103); current: C3 only -> 0 %.
    assert kpis.retention_rate == pytest.approx(0.0)
    assert kpis.active_customers == 1


def test_retention_is_none_without_previous_buyers(frames: DatasetFrames) -> None:
    kpis = compute_kpis(frames, period=DateRange(dt.date(2022, 1, 1), dt.date(2022, 3, 31)))

    # Nobody ordered 2021-10-03..2021-12-31.
    assert kpis.retention_rate is None
    assert kpis.total_revenue == pytest.approx(120.0)


def test_explicit_as_of_moves_windows_and_all_time_totals(frames: DatasetFrames) -> None:
    kpis = compute_kpis(frames, as_of=dt.date(2023, 1, 1))

    # Before 2023-01-01: 101 (120), 102 (100), 103 (50) -> 270 over 3 orders.
    assert kpis.total_revenue == pytest.approx(270.0)
    assert kpis.order_count == 3
    # Current window 2022-01-01..2022-12-31: C1, C2; previous (2021) empty.
    assert kpis.active_customers == 2
    assert kpis.retention_rate is None


def test_negative_amounts_count_negative(make_frames) -> None:
    frames = make_frames(
        customers=[(1, "C1", "A", None, None, None, "2020-01-01", None)],
        products=[(1, "P", "P", "X", 10.0)],
        orders=[
            (1, "O1", 1, "2020-02-01", "completed", None, None, 30.0),
            (2, "O2", 1, "2020-02-03", "returned", None, None, -10.0),
        ],
        items=[(1, 1, 3.0, 10.0, 30.0), (2, 1, -1.0, 10.0, -10.0)],
    )

    kpis = compute_kpis(frames)

    # 30 - 10 = 20 over 2 orders.
    assert kpis.total_revenue == pytest.approx(20.0)
    assert kpis.average_order_value == pytest.approx(10.0)


def test_historical_dataset_analyses_as_its_own_year(make_frames) -> None:
    frames = make_frames(
        customers=[(1, "C1", "A", None, None, None, "1997-01-01", None)],
        products=[(1, "P", "P", "X", 10.0)],
        orders=[
            (1, "O1", 1, "1997-01-10", "completed", None, None, 10.0),
            (2, "O2", 1, "1997-06-30", "completed", None, None, 10.0),
        ],
        items=[(1, 1, 1.0, 10.0, 10.0), (2, 1, 1.0, 10.0, 10.0)],
    )

    kpis = compute_kpis(frames)

    assert kpis.as_of == dt.date(1997, 7, 1)
    assert kpis.period.end == dt.date(1997, 6, 30)
    assert kpis.active_customers == 1


def test_empty_dataset(empty_frames: DatasetFrames) -> None:
    kpis = compute_kpis(empty_frames, period=DateRange(dt.date(2023, 1, 1), dt.date(2023, 1, 31)))

    assert kpis.total_customers == 0
    assert kpis.total_revenue == 0.0
    assert kpis.order_count == 0
    assert kpis.average_order_value is None
    assert kpis.retention_rate is None
    assert kpis.average_lifetime_value is None
    assert compute_kpis(empty_frames).active_customers == 0


def test_invalid_period_is_rejected(frames: DatasetFrames) -> None:
    with pytest.raises(InvalidArgumentError, match="period"):
        compute_kpis(frames, period=("2023-01-01", "2023-02-01"))  # type: ignore[arg-type]
