"""RFM on the hand-built dataset of conftest (asOf 2023-12-31 unless given)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import plotly.io as pio
import pytest

from analytics.frames import DatasetFrames
from analytics.rfm import SEGMENTS, customer_id_order, quintile_scores, score_rfm, segment_name
from tests.analytics.conftest import FramesFactory


def test_values_follow_the_definitions(frames: DatasetFrames) -> None:
    customers = score_rfm(frames).customers

    # C1 last ordered 2023-06-30 (184 days before 2023-12-31), 4 orders, 120+50+100-25.
    assert customers.loc[1, ["recency", "frequency", "monetary"]].tolist() == [184, 4, 245.0]
    assert customers.loc[2, ["recency", "frequency", "monetary"]].tolist() == [545, 1, 100.0]
    assert customers.loc[3, ["recency", "frequency", "monetary"]].tolist() == [363, 1, 35.0]
    assert customers.loc[5, ["recency", "frequency", "monetary"]].tolist() == [1, 1, 35.0]
    assert 4 not in customers.index  # Dan never ordered


def test_scores_are_quintiles_with_ties_broken_by_customer_id(frames: DatasetFrames) -> None:
    customers = score_rfm(frames).customers

    # Four customers: ranks 1..4 score ceil(5 * rank / 4) = 2, 3, 4, 5.
    # Recency 545 < 363 < 184 < 1 (worst to best); frequency C2 = C3 = C5 = 1 are
    # ranked in id order before C1's 4; monetary C3 = C5 = 35 tie, C3 first.
    assert customers["r_score"].to_dict() == {1: 4, 2: 2, 3: 3, 5: 5}
    assert customers["f_score"].to_dict() == {1: 5, 2: 2, 3: 3, 5: 4}
    assert customers["m_score"].to_dict() == {1: 5, 2: 4, 3: 2, 5: 3}
    assert customers["rfm_score"].to_dict() == {1: "455", 2: "224", 3: "332", 5: "543"}
    assert customers["segment"].to_dict() == {
        1: "Loyal",
        2: "Hibernating",
        3: "Need Attention",
        5: "Champions",
    }


def test_as_of_leaves_later_orders_out(frames: DatasetFrames) -> None:
    result = score_rfm(frames, as_of=dt.date(2023, 1, 1))

    assert result.as_of == dt.date(2023, 1, 1)
    assert sorted(result.customers.index) == [1, 2]
    assert result.customers.loc[1, ["recency", "frequency", "monetary"]].tolist() == [1, 2, 170.0]


def test_segment_summary_counts_and_shares(frames: DatasetFrames) -> None:
    segments = {s.segment: s for s in score_rfm(frames).segments}

    assert list(segments) == list(SEGMENTS)
    assert segments["Loyal"].customers == 1
    assert segments["Loyal"].revenue == 245.0
    assert segments["Loyal"].revenue_share == pytest.approx(245 / 415)
    assert segments["At Risk"].customers == 0
    assert segments["At Risk"].average_recency is None
    assert sum(s.customers for s in segments.values()) == 4


@pytest.mark.parametrize(
    ("r", "f", "expected"),
    [
        (5, 5, "Champions"), (5, 4, "Champions"), (4, 4, "Loyal"), (3, 5, "Loyal"),
        (5, 2, "Potential Loyalists"), (4, 3, "Potential Loyalists"), (5, 1, "New Customers"),
        (4, 1, "Promising"), (3, 3, "Need Attention"), (3, 1, "About to Sleep"),
        (3, 2, "About to Sleep"), (2, 3, "At Risk"), (1, 4, "At Risk"),
        (1, 5, "Can't Lose Them"), (2, 5, "Can't Lose Them"), (1, 1, "Hibernating"),
        (2, 2, "Hibernating"),
    ],
)  # fmt: skip
def test_segment_grid(r: int, f: int, expected: str) -> None:
    assert segment_name(r, f) == expected


def test_every_grid_cell_has_exactly_one_segment() -> None:
    for r in range(1, 6):
        for f in range(1, 6):
            assert segment_name(r, f) in SEGMENTS
    with pytest.raises(ValueError, match=r"1\.\.5"):
        segment_name(0, 3)


def test_quintiles_put_a_fifth_of_the_customers_in_each_score() -> None:
    values = pd.Series(range(100, 0, -1), dtype="float64")

    scores = quintile_scores(values)

    assert scores.value_counts().to_dict() == {1: 20, 2: 20, 3: 20, 4: 20, 5: 20}
    assert scores.iloc[0] == 5  # the highest value
    assert quintile_scores(values, higher_is_better=False).iloc[0] == 1


def test_numeric_source_ids_sort_as_numbers(make_frames: FramesFactory) -> None:
    frames = make_frames(
        customers=[
            (1, "10", "Ten", None, None, None, None, None),
            (2, "9", "Nine", None, None, None, None, None),
            (3, "100", "Hundred", None, None, None, None, None),
        ]
    )
    assert list(customer_id_order(frames.customers)) == [2, 1, 3]


def test_a_dataset_without_orders_scores_nobody(empty_frames: DatasetFrames) -> None:
    result = score_rfm(empty_frames)

    assert result.customers.empty
    assert all(s.customers == 0 for s in result.segments)
    pio.from_json(json.dumps(result.figure))
    pio.from_json(json.dumps(result.segment_figure))


def test_figures_render(frames: DatasetFrames) -> None:
    result = score_rfm(frames)

    scatter = pio.from_json(json.dumps(result.figure))
    bars = pio.from_json(json.dumps(result.segment_figure))

    assert {trace.name for trace in scatter.data} == {
        "Loyal", "Hibernating", "Need Attention", "Champions"
    }  # fmt: skip
    assert scatter.data[0].type == "scatter3d"
    assert list(bars.data[0].x) == ["Champions", "Loyal", "Need Attention", "Hibernating"]
