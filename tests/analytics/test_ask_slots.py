"""Reading periods, counts and names from a question, relative to the dataset's asOf."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.ask.slots import Shift, Vocabulary, extract_slots, shift_period
from analytics.frames import DatasetFrames
from analytics.periods import DateRange
from analytics.sales import Granularity

# The data's last day is Tuesday 2024-07-16.
VOCABULARY = Vocabulary(
    as_of=dt.date(2024, 7, 17),
    customer_ids=frozenset({"C000042", "ALFKI", "1234"}),
    customer_names={"mary smith": "C000042"},
    categories=("Books", "Home & Kitchen", "Toys & Games"),
    regions=("North", "South West"),
)


def days(start: str, end: str) -> DateRange:
    return DateRange(dt.date.fromisoformat(start), dt.date.fromisoformat(end))


@pytest.mark.parametrize(
    ("question", "period"),
    [
        ("What was revenue in March?", days("2024-03-01", "2024-03-31")),
        ("Revenue in September", days("2023-09-01", "2023-09-30")),
        ("revenue in July", days("2024-07-01", "2024-07-31")),
        ("Sales in March 2022", days("2022-03-01", "2022-03-31")),
        ("sales for Sept. 2023", days("2023-09-01", "2023-09-30")),
        ("orders in may", days("2024-05-01", "2024-05-31")),
        ("Orders in Q3 2023", days("2023-07-01", "2023-09-30")),
        ("orders in 2023 Q4", days("2023-10-01", "2023-12-31")),
        ("orders in Q2", days("2024-04-01", "2024-06-30")),
        ("orders in Q4", days("2023-10-01", "2023-12-31")),
        ("the third quarter of 2022", days("2022-07-01", "2022-09-30")),
        ("H1 2023", days("2023-01-01", "2023-06-30")),
        ("revenue last quarter", days("2024-04-01", "2024-06-30")),
        ("revenue this quarter", days("2024-07-01", "2024-07-16")),
        ("What's our AOV this year?", days("2024-01-01", "2024-07-16")),
        ("AOV year to date", days("2024-01-01", "2024-07-16")),
        ("revenue last year", days("2023-01-01", "2023-12-31")),
        ("revenue last month", days("2024-06-01", "2024-06-30")),
        ("revenue this month", days("2024-07-01", "2024-07-16")),
        ("orders last week", days("2024-07-08", "2024-07-14")),
        ("orders in the last 30 days", days("2024-06-17", "2024-07-16")),
        ("revenue over the past 3 months", days("2024-04-17", "2024-07-16")),
        ("revenue in the last twelve months", days("2023-07-17", "2024-07-16")),
        ("revenue in 2022", days("2022-01-01", "2022-12-31")),
        ("revenue in FY23", days("2023-01-01", "2023-12-31")),
        ("revenue for 2023-02", days("2023-02-01", "2023-02-28")),
        ("revenue on 2024-02-29", days("2024-02-29", "2024-02-29")),
        ("between 2023-01-15 and 2023-03-31", days("2023-01-15", "2023-03-31")),
        ("from January to March 2023", days("2023-01-01", "2023-03-31")),
        ("from November to February", days("2023-11-01", "2024-02-29")),
        ("revenue since March", days("2024-03-01", "2024-07-16")),
        ("revenue yesterday", days("2024-07-16", "2024-07-16")),
    ],
)
def test_periods_count_from_the_last_day_of_the_data(question: str, period: DateRange) -> None:
    assert extract_slots(question, VOCABULARY).period == period


def test_this_year_of_a_dataset_ending_on_new_years_eve_is_that_year() -> None:
    ending = Vocabulary(as_of=dt.date(2026, 1, 1))

    assert extract_slots("revenue this year", ending).period == days("2025-01-01", "2025-12-31")
    assert extract_slots("revenue in March", ending).period == days("2025-03-01", "2025-03-31")
    assert extract_slots("last month", ending).period == days("2025-11-01", "2025-11-30")


def test_may_the_verb_is_not_a_month() -> None:
    assert extract_slots("May I see the revenue?", VOCABULARY).period is None


def test_two_periods_for_a_comparison_are_kept_apart() -> None:
    slots = extract_slots("What's our AOV this year vs last year?", VOCABULARY)

    assert slots.periods == (days("2024-01-01", "2024-07-16"), days("2023-01-01", "2023-12-31"))
    assert slots.compare
    assert slots.kpi_metric == "average_order_value"
    assert slots.masked == "What's our AOV period vs period ?"


@pytest.mark.parametrize(
    ("question", "count"),
    [
        ("Who are our top 5 customers?", 5),
        ("top ten products", 10),
        ("the 3 biggest clients", 3),
        ("list 20 customers", 20),
        ("best selling products in 2023", None),
        ("revenue in the last 30 days", None),
    ],
)
def test_counts(question: str, count: int | None) -> None:
    assert extract_slots(question, VOCABULARY).count == count


@pytest.mark.parametrize(
    ("question", "horizon"),
    [
        ("Forecast revenue for the next 6 months", (6, "month")),
        ("sales next quarter", (1, "quarter")),
        ("CLV over the next two years", (2, "year")),
        ("a 3-year CLV", (3, "year")),
        ("the coming 8 weeks", (8, "week")),
    ],
)
def test_forecast_horizons(question: str, horizon: tuple[int, str]) -> None:
    slots = extract_slots(question, VOCABULARY)

    assert slots.horizon == horizon
    assert slots.period is None


@pytest.mark.parametrize(
    ("question", "granularity"),
    [
        ("monthly revenue", Granularity.MONTH),
        ("revenue by quarter", Granularity.QUARTER),
        ("which week had the most orders", Granularity.WEEK),
        ("daily sales", Granularity.DAY),
        ("annual revenue", Granularity.YEAR),
        ("revenue last month", None),
    ],
)
def test_granularity(question: str, granularity: Granularity | None) -> None:
    assert extract_slots(question, VOCABULARY).granularity == granularity


def test_customer_ids_match_the_data_exactly() -> None:
    assert extract_slots("Tell me about customer C000042", VOCABULARY).customer_id == "C000042"
    assert extract_slots("report for c000042", VOCABULARY).customer_id == "C000042"
    assert extract_slots("what did ALFKI buy", VOCABULARY).customer_id == "ALFKI"
    assert extract_slots("customer 1234", VOCABULARY).customer_id == "1234"
    # Numbers are counts or years unless they follow "customer".
    assert extract_slots("top 1234 customers", VOCABULARY).customer_id is None
    unknown = extract_slots("report for customer C999999", VOCABULARY)
    assert (unknown.customer_id, unknown.unknown_customer_id) == (None, "C999999")
    assert extract_slots("revenue in 2024", VOCABULARY).unknown_customer_id is None


def test_a_customer_name_counts_only_when_introduced_as_a_customer() -> None:
    slots = extract_slots("Tell me about customer Mary Smith", VOCABULARY)

    assert slots.customer_id == "C000042"
    assert slots.masked == "Tell me about customer customerid"
    assert extract_slots("Customer report for mary smith", VOCABULARY).customer_id == "C000042"
    named = extract_slots("Tell me about Mary Smith", VOCABULARY)
    assert (named.customer_id, named.masked) == (None, "Tell me about Mary Smith")


def test_categories_and_regions_as_the_data_spells_them() -> None:
    slots = extract_slots("How did home and kitchen do in the south-west region?", VOCABULARY)

    assert (slots.category, slots.region) == ("Home & Kitchen", "South West")
    assert slots.masked == "How did categoryname do in the regionname region?"
    assert extract_slots("toys revenue", VOCABULARY).category == "Toys & Games"
    assert extract_slots("north", VOCABULARY).region == "North"
    assert extract_slots("Book a meeting", VOCABULARY).category is None


@pytest.mark.parametrize(
    ("question", "segment"),
    [
        ("How many customers are champions?", "Champions"),
        ("customers in the at risk segment", "At Risk"),
        ("Can't Lose Them customers", "Can't Lose Them"),
        ("potential loyalists", "Potential Loyalists"),
        ("how many loyal customers", "Loyal"),
    ],
)
def test_rfm_segments(question: str, segment: str) -> None:
    assert extract_slots(question, VOCABULARY).segment == segment


@pytest.mark.parametrize(
    ("question", "metric"),
    [
        ("What was revenue in March?", "revenue"),
        ("How much did we sell?", "revenue"),
        ("How many orders did we get?", "orders"),
        ("what's the average basket size", "average_order_value"),
        ("what is the retention rate", "retention_rate"),
        ("how many customers ordered last month", "active_customers"),
        ("how many customers do we have", "total_customers"),
    ],
)
def test_kpi_metrics(question: str, metric: str) -> None:
    assert extract_slots(question, VOCABULARY).kpi_metric == metric


def test_rep_and_customer_metrics() -> None:
    assert extract_slots("Which rep closed the most deals?", VOCABULARY).rep_metric == (
        "orders_closed"
    )
    assert extract_slots("Which rep sold the most?", VOCABULARY).rep_metric == "revenue"
    assert extract_slots("customers with the most orders", VOCABULARY).customer_metric == "orders"
    assert extract_slots("customers who spent the most", VOCABULARY).customer_metric == (
        "lifetime_value"
    )


@pytest.mark.parametrize(
    ("question", "shift"),
    [
        ("and the month before?", Shift("month", -1)),
        ("what about the year before?", Shift("year", -1)),
        ("and a year earlier?", Shift("year", -1)),
        ("and before that?", Shift(None, -1)),
        ("and the quarter after?", Shift("quarter", 1)),
        ("and the previous one?", Shift(None, -1)),
    ],
)
def test_shifts_of_a_follow_up(question: str, shift: Shift) -> None:
    assert extract_slots(question, VOCABULARY).shift == shift


@pytest.mark.parametrize(
    ("period", "unit", "steps", "moved"),
    [
        (days("2024-03-01", "2024-03-31"), None, -1, days("2024-02-01", "2024-02-29")),
        (days("2024-03-01", "2024-03-31"), "month", -1, days("2024-02-01", "2024-02-29")),
        (days("2024-03-01", "2024-03-31"), "year", -1, days("2023-03-01", "2023-03-31")),
        (days("2024-04-01", "2024-06-30"), None, -1, days("2024-01-01", "2024-03-31")),
        (days("2024-01-01", "2024-12-31"), "month", -1, days("2023-01-01", "2023-12-31")),
        (days("2024-01-01", "2024-07-16"), "year", -1, days("2023-01-01", "2023-07-16")),
        (days("2024-06-17", "2024-07-16"), None, -1, days("2024-05-18", "2024-06-16")),
        (days("2024-03-01", "2024-03-31"), None, 1, days("2024-04-01", "2024-04-30")),
    ],
)
def test_shifting_a_period(
    period: DateRange, unit: str | None, steps: int, moved: DateRange
) -> None:
    assert shift_period(period, unit, steps) == moved


def test_vocabulary_from_frames(frames: DatasetFrames) -> None:
    vocabulary = Vocabulary.from_frames(frames)

    assert vocabulary.as_of == dt.date(2023, 12, 31)
    assert vocabulary.today == dt.date(2023, 12, 30)
    assert vocabulary.customer_ids == {"C1", "C2", "C3", "C4", "C5"}
    assert vocabulary.categories == ("Hardware", "Services")
    assert vocabulary.regions == ("North", "South", "West")
