"""salesForecast, topProducts and salesSeasonality through the schema on the tiny dataset.

Tiny monthly revenue (conftest): Feb 2023 20, Mar 2023 30, Feb 2024 15, May 2024 10,
Jun 2024 25, every other month 0; the latest order is 2024-06-30, so June is complete.
"""

from __future__ import annotations

import json

import plotly.io as pio
import pytest

from tests.schema.conftest import Execute

FORECAST_QUERY = """
query Forecast($horizon: Int, $granularity: Granularity) {
  salesForecast(horizon: $horizon, granularity: $granularity) {
    granularity model method reason horizon seasonLength intervalLevel residualStd
    history { periodStart revenue fitted }
    points { periodStart revenue lower upper }
    backtest {
      periods trainPeriods mae mape smape mase coverage baselineMethod beatsBaseline
      baseline { mae mape smape mase }
      points { periodStart actual forecast lower upper baseline }
    }
    notes figure
  }
}
"""

TOP_PRODUCTS_QUERY = """
{
  topProducts(limit: 2) {
    totalRevenue figure items { sku name category revenue quantity orders revenueShare }
  }
}
"""

SEASONALITY_QUERY = """
{
  salesSeasonality {
    firstDay lastDay monthFigure weekdayFigure
    byMonth { month name revenue periods average index }
    byWeekday { day weekday revenue periods average index }
  }
}
"""


async def test_monthly_forecast_with_backtest(execute: Execute) -> None:
    forecast = (await execute(FORECAST_QUERY))["salesForecast"]

    # 17 complete months: enough for a trend, not for two seasons.
    assert forecast["granularity"] == "MONTH"
    assert forecast["model"] == "HOLT"
    assert forecast["horizon"] == 3
    assert forecast["seasonLength"] is None
    assert forecast["intervalLevel"] == 0.95
    history = forecast["history"]
    assert len(history) == 17
    assert (history[0]["periodStart"], history[0]["revenue"]) == ("2023-02-01", 20.0)
    assert (history[-1]["periodStart"], history[-1]["revenue"]) == ("2024-06-01", 25.0)
    assert sum(h["revenue"] for h in history) == 100.0
    points = forecast["points"]
    assert [p["periodStart"] for p in points] == ["2024-07-01", "2024-08-01", "2024-09-01"]
    assert all(0 <= p["lower"] <= p["revenue"] <= p["upper"] for p in points)

    # Held out April..June 2024 (0, 10, 25); 14 training months exceed a season,
    # so the baseline repeats April..June 2023: 0, 0, 0. Its MAE is 35/3; MAPE
    # over May and June is 100%; sMAPE (April 0 vs 0 skipped) is 200%; MASE
    # divides by the mean in-sample 12-month difference (|15-20| + |0-30|) / 2.
    backtest = forecast["backtest"]
    assert (backtest["periods"], backtest["trainPeriods"]) == (3, 14)
    assert [p["actual"] for p in backtest["points"]] == [0.0, 10.0, 25.0]
    assert [p["baseline"] for p in backtest["points"]] == [0.0, 0.0, 0.0]
    assert backtest["baseline"]["mae"] == pytest.approx(35 / 3)
    assert backtest["baseline"]["mape"] == pytest.approx(100.0)
    assert backtest["baseline"]["smape"] == pytest.approx(200.0)
    assert backtest["baseline"]["mase"] == pytest.approx(35 / 3 / 17.5)
    assert backtest["baselineMethod"] == "seasonal naive (the value 12 periods earlier)"
    assert backtest["mase"] == pytest.approx(backtest["mae"] / 17.5)
    assert backtest["beatsBaseline"] == (backtest["mae"] < 35 / 3)
    assert 0 <= backtest["coverage"] <= 1

    figure = pio.from_json(json.dumps(forecast["figure"]))
    assert len(figure.data) == 4


@pytest.mark.parametrize(
    ("granularity", "model", "season", "periods"),
    [
        # Weeks 2023-01-30 .. 2024-06-24; the first is five sevenths covered, so it stays.
        ("WEEK", "HOLT", None, 74),
        ("DAY", "HOLT_WINTERS", 7, 516),
        ("QUARTER", "LINEAR_TREND", None, 6),
    ],
)
async def test_forecast_at_other_granularities(
    execute: Execute, granularity: str, model: str, season: int | None, periods: int
) -> None:
    variables = {"granularity": granularity, "horizon": 2}
    forecast = (await execute(FORECAST_QUERY, variables))["salesForecast"]

    assert (forecast["granularity"], forecast["model"]) == (granularity, model)
    assert forecast["seasonLength"] == season
    assert len(forecast["history"]) == periods
    assert sum(h["revenue"] for h in forecast["history"]) == pytest.approx(100.0)
    assert len(forecast["points"]) == 2
    assert pio.from_json(json.dumps(forecast["figure"])).data


async def test_forecast_errors_name_the_argument(execute: Execute) -> None:
    result = await execute(FORECAST_QUERY, {"horizon": 40}, errors=True)
    [error] = result["errors"]
    assert error["message"] == "horizon: expected an integer from 1 to 36, got 40"
    assert error["extensions"]["code"] == "BAD_USER_INPUT"

    # 2023 is the only complete year (2024 is still running at asOf 2024-07-01).
    result = await execute(FORECAST_QUERY, {"granularity": "YEAR"}, errors=True)
    [error] = result["errors"]
    assert "needs at least 3 complete years of history, the dataset has 1" in error["message"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_top_products(execute: Execute) -> None:
    top = (await execute(TOP_PRODUCTS_QUERY))["topProducts"]

    # BK-2: 5 + 10 + 25 = 40 (qty 8, orders O2 and O5); BK-1: 20 + 10 = 30; TOY-1 30
    # ties with BK-1 and loses on sku.
    assert top["items"] == [
        {
            "sku": "BK-2",
            "name": "Book two",
            "category": "Books",
            "revenue": 40.0,
            "quantity": 8.0,
            "orders": 2,
            "revenueShare": 0.4,
        },
        {
            "sku": "BK-1",
            "name": "Book one",
            "category": "Books",
            "revenue": 30.0,
            "quantity": 3.0,
            "orders": 2,
            "revenueShare": 0.3,
        },
    ]
    assert top["totalRevenue"] == 100.0
    assert pio.from_json(json.dumps(top["figure"])).data


async def test_sales_seasonality(execute: Execute) -> None:
    seasonality = (await execute(SEASONALITY_QUERY))["salesSeasonality"]

    # Span 2023-02-01 .. 2024-06-30: February..June twice, July..January once.
    assert (seasonality["firstDay"], seasonality["lastDay"]) == ("2023-02-01", "2024-06-30")
    months = {m["month"]: m for m in seasonality["byMonth"]}
    assert [m["periods"] for m in seasonality["byMonth"]] == [1, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1]
    assert (months[2]["revenue"], months[2]["average"]) == (35.0, 17.5)
    # Averages 17.5 + 15 + 5 + 12.5 = 50 over 12 months: a mean of 50 / 12.
    assert months[2]["index"] == pytest.approx(17.5 / (50 / 12))
    assert months[1]["index"] == 0.0
    # 516 days from a Wednesday: 73 weeks plus Wednesday..Sunday.
    days = [(d["weekday"], d["revenue"], d["periods"]) for d in seasonality["byWeekday"]]
    assert days == [
        ("Monday", 10.0, 73),
        ("Tuesday", 0.0, 73),
        ("Wednesday", 20.0, 74),
        ("Thursday", 15.0, 74),
        ("Friday", 30.0, 74),
        ("Saturday", 0.0, 74),
        ("Sunday", 25.0, 74),
    ]
    assert pio.from_json(json.dumps(seasonality["monthFigure"])).data
    assert pio.from_json(json.dumps(seasonality["weekdayFigure"])).data
