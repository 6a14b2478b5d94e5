from __future__ import annotations

import datetime as dt
import json

from analytics.charts import bar_figure, line_figure, pie_figure


def test_line_figure_is_json_safe() -> None:
    figure = line_figure(
        [dt.date(2024, 1, 1), dt.date(2024, 2, 1)],
        {"Revenue": [1.5, 2.5]},
        title="Revenue",
        y_title="EUR",
    )

    assert json.loads(json.dumps(figure)) == figure
    assert figure["data"][0]["x"] == ["2024-01-01", "2024-02-01"]
    assert figure["data"][0]["name"] == "Revenue"
    assert figure["layout"]["title"]["text"] == "Revenue"
    assert figure["layout"]["yaxis"]["title"]["text"] == "EUR"


def test_line_figure_with_own_x_per_series() -> None:
    figure = line_figure(
        [],
        {"a": [1.0], "b": [2.0, 3.0]},
        xs={"a": ["x1"], "b": ["x1", "x2"]},
        title="t",
    )

    assert [trace["x"] for trace in figure["data"]] == [["x1"], ["x1", "x2"]]


def test_bar_figure_horizontal_swaps_axes() -> None:
    figure = bar_figure(["a", "b"], [3.0, 1.0], title="t", horizontal=True)

    trace = figure["data"][0]
    assert trace["type"] == "bar"
    assert trace["orientation"] == "h"
    assert trace["y"] == ["a", "b"]
    assert trace["x"] == [3.0, 1.0]


def test_pie_figure() -> None:
    figure = pie_figure(["a", "b"], [1.0, 3.0], title="Share")

    assert figure["data"][0]["type"] == "pie"
    assert figure["data"][0]["labels"] == ["a", "b"]
    assert "layout" in figure


def test_pie_colours_follow_their_labels() -> None:
    figure = pie_figure(["High", "Low"], [1.0, 3.0], title="Risk", colors=["#dc2626", "#16a34a"])

    trace = figure["data"][0]
    assert trace["marker"]["colors"] == ["#dc2626", "#16a34a"]
    assert trace["sort"] is False  # otherwise plotly reorders slices away from their colours
