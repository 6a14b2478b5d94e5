"""Grounding: every number in a model's prose must be one the server computed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from analytics.ask.grounding import check_grounding, find_mentions, render_result

KPIS: dict[str, Any] = {
    "period": {"start": "2024-07-01", "end": "2024-09-30"},
    "total_revenue": 1234567.89,
    "order_count": 869,
    "average_order_value": 181.43,
    "retention_rate": 60.9,
    "churn_share": 0.125,
    "total_customers": 200,
}
TOP: dict[str, Any] = {
    "customers": [
        {"customer_id": "C000009", "name": "Mary Rodriguez", "lifetime_value": 7913.87},
        {"customer_id": "C000013", "name": "Nancy Anderson", "lifetime_value": 4827.42},
        {"customer_id": "C000056", "name": "Luis Walker", "lifetime_value": 4625.19},
    ]
}
QUESTION = "Who were our top 3 customers in Q3 2024?"


def unsupported(
    prose: str, sources: list[Any] | None = None, context: tuple[str, ...] = ()
) -> list[str]:
    report = check_grounding(prose, [KPIS, TOP] if sources is None else sources, context)
    return [mention.text for mention in report.unsupported]


@pytest.mark.parametrize(
    "prose",
    [
        "Revenue was $1,234,567.89.",
        "Revenue was 1234567.89 dollars.",
        "Revenue was about $1,234,568.",  # rounded to the shown precision
        "Revenue was $1,234,567.",  # or cut
        "Revenue was $1.23M, or 1.2 million.",
        "Revenue was about $1,230,000.",  # trailing zeros round a large number
        "Revenue was €1,235k.",
        "We had 869 orders worth $181.43 on average.",
        "Retention was 60.9%, about 61 percent.",
        "12.5% of customers churned.",  # a 0..1 share shown as a percentage
        "We have 200 customers.",
        "From 2024-07-01 to 2024-09-30 (Q3 2024), that is the 3 months to September 30.",
        "In 2024-09 we saw the most orders.",
        "Over those 13 weeks, or 92 days, revenue grew.",
        "Mary Rodriguez (C000009) is 1st, #2 is C000013 and the 3rd is Luis Walker.",
        "The top 3 customers spent $7,913.87, $4,827.42 and $4,625.19.",
        "The second-best customer spent 4.8k.",
        "No numbers here at all.",
    ],
)
def test_prose_whose_numbers_come_from_the_results_is_grounded(prose: str) -> None:
    assert unsupported(prose) == []


@pytest.mark.parametrize(
    ("prose", "bad"),
    [
        ("Revenue was $1,234,999.", ["$1,234,999"]),
        ("Revenue was $1.3M.", ["$1.3M"]),
        ("Revenue grew 15% year over year.", ["15%"]),
        ("We had 870 orders.", ["870"]),  # a count must be exact
        ("Retention was 60.8%.", ["60.8%"]),
        ("Revenue peaked on 2024-10-15.", ["2024-10-15"]),
        ("Q1 was the weakest quarter.", ["Q1"]),
        ("Customer C000099 spent the most.", ["C000099"]),
        ("The 4th customer spent little.", ["4th"]),
        ("Revenue in 2019 was lower.", ["2019"]),
        ("In 2024 September brought 9% more orders.", ["9%"]),  # a month is not a share
        ("Over the last 6 months revenue grew.", ["6 months"]),
        ("Orders: 1,2345 and 8.", ["2345", "8"]),  # no digit escapes the check
        ("A loss of -4,242.", ["4,242"]),
    ],
)
def test_numbers_no_result_supports_are_reported(prose: str, bad: list[str]) -> None:
    assert unsupported(prose) == bad


def test_the_question_and_the_arguments_ground_their_own_numbers() -> None:
    prose = "Your top 3 customers in Q3 2024 each spent over 4,000 dollars since 2023."
    assert unsupported(prose, [TOP]) == ["Q3", "2024", "4,000", "2023"]
    assert unsupported(prose, [TOP, {"since": "2023-01-01", "floor": 4000}], (QUESTION,)) == []


def test_without_sources_every_number_is_unsupported() -> None:
    assert unsupported("Revenue was 1,000 in 2024; top 5.", []) == ["1,000", "2024", "5"]
    assert unsupported("I can only answer questions about sales.", []) == []


def test_list_lengths_ground_counts() -> None:
    assert unsupported("Here are your 3 best customers.", [TOP]) == []
    assert unsupported("Here are your 4 best customers.", [TOP]) == ["4"]


def test_mentions_keep_their_precision_scale_and_unit() -> None:
    (money, share, span) = find_mentions("$1,234.50 then 12.5 percent over a 3-month span")
    assert (money.value, money.decimals, money.kind) == (Decimal("1234.50"), 2, "number")
    assert (share.value, share.percent) == (Decimal("12.5"), True)
    assert (span.value, span.unit) == (Decimal(3), "month")
    (million,) = find_mentions("€2.5 million")
    assert (million.value, million.decimals, million.scale) == (Decimal("2.5"), 1, Decimal(10**6))
    kinds = [m.kind for m in find_mentions("2024-03-31 Q2 SO-0001234 5th #1 10")]
    assert kinds == ["date", "quarter", "identifier", "rank", "rank", "number"]


def test_a_rendered_result_is_plain_and_grounded_in_it() -> None:
    text = render_result(KPIS, "Computed:")
    assert text.splitlines() == [
        "Computed:",
        "Period: 2024-07-01 to 2024-09-30",
        "Total revenue: 1,234,567.89",
        "Order count: 869",
        "Average order value: 181.43",
        "Retention rate: 60.9",
        "Churn share: 0.125",
        "Total customers: 200",
    ]
    assert check_grounding(text, [KPIS]).grounded


def test_a_rendered_list_shows_its_rows_and_stays_grounded() -> None:
    rows = {"customers": TOP["customers"] * 4, "note": None, "complete": False}
    text = render_result(rows, max_rows=2)
    assert text.splitlines() == [
        "Customers:",
        "- C000009 - Mary Rodriguez: lifetime value 7,913.87",
        "- C000013 - Nancy Anderson: lifetime value 4,827.42",
        "- ... (more in the data)",
        "Note: n/a",
        "Complete: no",
    ]
    assert check_grounding(text, [rows]).grounded
    tiny = render_result({"share": 1e-05, "big": 1e16})
    assert tiny.splitlines() == ["Share: 0.00001", "Big: 10,000,000,000,000,000"]
    assert check_grounding(tiny, [{"share": 1e-05, "big": 1e16}]).grounded
