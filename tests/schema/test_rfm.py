"""rfm and Customer.rfm through the schema, on the tiny dataset (hand totals in conftest).

Tiny dataset at asOf 2024-07-01: C1 last ordered 2024-02-01 (151 days), 2 orders, 35;
C2 2024-05-20 (42 days), 2 orders, 40; C3 2024-06-30 (1 day), 1 order, 25.
Scores over three customers are ceil(5 * rank / 3) = 2, 4, 5.
"""

from __future__ import annotations

import json

import plotly.io as pio

from tests.schema.conftest import Execute

RFM_QUERY = """
query Rfm($first: Int, $offset: Int, $segment: String, $asOf: Date) {
  rfm(asOf: $asOf) {
    asOf customerCount
    segments { segment customers revenue revenueShare }
    customers(first: $first, offset: $offset, segment: $segment) {
      totalCount offset
      items { customerId name recency frequency monetary rScore fScore mScore rfmScore segment }
    }
    figure segmentFigure
  }
}
"""

CUSTOMER_RFM_QUERY = """
query CustomerRfm($id: ID!) {
  customer(id: $id) { id rfm { rfmScore segment recency } }
}
"""


async def test_rfm_scores_every_customer_who_ordered(execute: Execute) -> None:
    rfm = (await execute(RFM_QUERY))["rfm"]

    assert rfm["asOf"] == "2024-07-01"
    assert rfm["customerCount"] == 3
    scores = {item["customerId"]: item for item in rfm["customers"]["items"]}
    assert scores["C1"] == {
        "customerId": "C1", "name": "Ada Lovelace", "recency": 151, "frequency": 2,
        "monetary": 35.0, "rScore": 2, "fScore": 4, "mScore": 4, "rfmScore": "244",
        "segment": "At Risk",
    }  # fmt: skip
    # C2 and C1 both ordered twice: the tie goes to id order, so C2 ranks above C1.
    assert scores["C2"]["rfmScore"] == "455"
    assert scores["C2"]["segment"] == "Loyal"
    assert scores["C3"]["rfmScore"] == "522"
    assert scores["C3"]["segment"] == "Potential Loyalists"
    segments = {s["segment"]: s for s in rfm["segments"]}
    assert segments["Loyal"] == {
        "segment": "Loyal", "customers": 1, "revenue": 40.0, "revenueShare": 0.4
    }  # fmt: skip
    assert segments["Champions"]["customers"] == 0
    pio.from_json(json.dumps(rfm["figure"]))
    pio.from_json(json.dumps(rfm["segmentFigure"]))


async def test_scores_page_and_filter_by_segment(execute: Execute) -> None:
    page = (await execute(RFM_QUERY, {"first": 1, "offset": 1}))["rfm"]["customers"]
    assert page["totalCount"] == 3
    assert [item["customerId"] for item in page["items"]] == ["C2"]

    loyal = (await execute(RFM_QUERY, {"segment": "Loyal"}))["rfm"]["customers"]
    assert loyal["totalCount"] == 1
    assert loyal["items"][0]["customerId"] == "C2"


async def test_bad_paging_and_segment_are_named(execute: Execute) -> None:
    result = await execute(RFM_QUERY, {"first": 0}, errors=True)
    assert result["errors"][0]["message"] == "first: expected 1..1000, got 0"
    assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    result = await execute(RFM_QUERY, {"segment": "Whales"}, errors=True)
    assert result["errors"][0]["message"].startswith("segment: expected one of Champions")


async def test_as_of_moves_the_window(execute: Execute) -> None:
    rfm = (await execute(RFM_QUERY, {"asOf": "2024-01-01"}))["rfm"]

    assert rfm["asOf"] == "2024-01-01"
    assert {item["customerId"] for item in rfm["customers"]["items"]} == {"C1", "C2"}


async def test_customer_rfm_matches_the_analysis(execute: Execute) -> None:
    c1 = (await execute(CUSTOMER_RFM_QUERY, {"id": "C1"}))["customer"]
    c4 = (await execute(CUSTOMER_RFM_QUERY, {"id": "C4"}))["customer"]

    assert c1["rfm"] == {"rfmScore": "244", "segment": "At Risk", "recency": 151}
    assert c4["rfm"] is None  # never ordered
