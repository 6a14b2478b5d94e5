"""Plotly figures for analytics results, as JSON-safe dicts (``data`` + ``layout``).

Builders take plain sequences so every analytic charts its own numbers and the
figure never recomputes anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

Figure = dict[str, Any]

_TEMPLATE = "plotly_white"


def figure_to_dict(fig: go.Figure) -> Figure:
    """Serialise a figure to plain JSON types (dates become ISO strings)."""
    result: Figure = json.loads(pio.to_json(fig, validate=False))
    return result


def _layout(title: str, x_title: str | None, y_title: str | None) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": x_title}} if x_title else {},
        "yaxis": {"title": {"text": y_title}} if y_title else {},
        "template": _TEMPLATE,
    }


def line_figure(
    x: Sequence[Any],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    x_title: str | None = None,
    y_title: str | None = None,
    xs: Mapping[str, Sequence[Any]] | None = None,
) -> Figure:
    """One line per named series, sharing ``x`` unless ``xs`` gives a series its own."""
    traces = [
        go.Scatter(
            x=list(xs[name]) if xs is not None and name in xs else list(x),
            y=list(values),
            mode="lines+markers",
            name=name,
        )
        for name, values in series.items()
    ]
    fig = go.Figure(data=traces, layout=_layout(title, x_title, y_title))
    return figure_to_dict(fig)


def bar_figure(
    x: Sequence[Any],
    y: Sequence[float],
    *,
    title: str,
    x_title: str | None = None,
    y_title: str | None = None,
    horizontal: bool = False,
) -> Figure:
    """A single bar trace; ``horizontal`` swaps the axes (labels on the y axis)."""
    if horizontal:
        trace = go.Bar(x=list(y), y=list(x), orientation="h")
        layout = _layout(title, y_title, x_title)
        layout["yaxis"]["autorange"] = "reversed"
    else:
        trace = go.Bar(x=list(x), y=list(y))
        layout = _layout(title, x_title, y_title)
    return figure_to_dict(go.Figure(data=[trace], layout=layout))


def pie_figure(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    colors: Sequence[str] | None = None,
) -> Figure:
    """Shares of a whole, as a donut; ``colors`` follow ``labels`` when given."""
    marker = {"colors": list(colors)} if colors is not None else None
    fig = go.Figure(
        data=[
            go.Pie(labels=list(labels), values=list(values), hole=0.4, marker=marker, sort=False)
        ],
        layout=_layout(title, None, None),
    )
    return figure_to_dict(fig)
