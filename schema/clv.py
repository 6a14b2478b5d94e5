from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from analytics import clv
from resolvers.clv import resolve_clv_customers, resolve_lifetime_value
from resolvers.context import Context
from schema._utils import convert
from schema.inputs import SortDirection
from schema.scalars import JSON

ClvOrderField = strawberry.enum(
    clv.ClvSortField, name="ClvOrderField", description="What to rank predicted customers by."
)


@strawberry.input
class ClvOrder:
    field: ClvOrderField = clv.ClvSortField.PREDICTED_VALUE  # type: ignore[valid-type]
    direction: SortDirection = SortDirection.DESC


@strawberry.type(description="BG/NBD parameters (Fader, Hardie & Lee 2005), time in weeks.")
class BgNbdParameters:
    r: float = strawberry.field(description="Shape of the purchase-rate gamma distribution.")
    alpha: float = strawberry.field(description="Scale of the purchase-rate gamma distribution.")
    a: float = strawberry.field(description="Dropout-probability beta distribution, a.")
    b: float = strawberry.field(description="Dropout-probability beta distribution, b.")


@strawberry.type(description="Gamma-Gamma spend parameters (Fader & Hardie 2013).")
class GammaGammaParameters:
    p: float
    q: float
    v: float


@strawberry.type(description="One customer's purchase history summary and predictions.")
class CustomerClv:
    customer_id: strawberry.ID
    name: str | None
    frequency: int = strawberry.field(description="Repeat purchase days before asOf.")
    recency: float = strawberry.field(description="Weeks from the first to the last purchase.")
    t: float = strawberry.field(
        description="Weeks from the first purchase to the day before asOf (T)."
    )
    monetary_value: float = strawberry.field(
        description="Mean revenue of the repeat purchase days, 0 without any."
    )
    expected_purchases: float = strawberry.field(description="Expected purchases in the horizon.")
    p_alive: float = strawberry.field(description="Probability the customer is still active.")
    expected_spend: float = strawberry.field(description="Expected revenue per future purchase.")
    predicted_value: float = strawberry.field(
        description="Discounted expected revenue over the horizon."
    )


@strawberry.type(description="Predicted customer lifetime value; definitions in DESIGN.md.")
class ClvAnalysis:
    result: strawberry.Private[clv.ClvResult]
    as_of: dt.date = strawberry.field(description="Calibration covers the purchases before it.")
    horizon_months: int
    discount_rate: float = strawberry.field(description="Monthly discount rate.")
    bgnbd: BgNbdParameters
    gamma_gamma: GammaGammaParameters | None = strawberry.field(
        description="Null when too few repeat buyers to fit it: spend is then each repeat "
        "buyer's mean repeat spend, and the mean of those for one-time buyers."
    )
    average_p_alive: float
    total_predicted_value: float
    customer_count: int = strawberry.field(description="Customers with purchases before asOf.")
    figure: JSON

    @classmethod
    def from_result(cls, result: clv.ClvResult) -> ClvAnalysis:
        gamma_gamma = result.gamma_gamma
        return cls(
            result=result,
            as_of=result.as_of,
            horizon_months=result.horizon_months,
            discount_rate=result.discount_rate,
            bgnbd=convert(BgNbdParameters, result.bgnbd),
            gamma_gamma=None if gamma_gamma is None else convert(GammaGammaParameters, gamma_gamma),
            average_p_alive=result.average_p_alive,
            total_predicted_value=result.total_predicted_value,
            customer_count=result.customer_count,
            figure=result.figure,  # type: ignore[arg-type]
        )

    @strawberry.field(description="Customers by predicted value, highest first, unless ordered.")
    async def customers(
        self,
        first: Annotated[int, strawberry.argument(description=f"1..{clv.MAX_PAGE_SIZE}")] = 100,
        offset: int = 0,
        order_by: ClvOrder | None = None,
    ) -> list[CustomerClv]:
        order_by = order_by or ClvOrder()
        page = await resolve_clv_customers(
            self.result, first, offset, order_by.field, order_by.direction is SortDirection.DESC
        )
        return [convert(CustomerClv, row) for row in page]


@strawberry.type
class ClvQuery:
    @strawberry.field(
        description="Predicted lifetime value: BG/NBD purchases and P(alive), Gamma-Gamma spend."
    )
    async def lifetime_value(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        horizon_months: Annotated[int, strawberry.argument(description="1..120")] = 12,
        discount_rate: Annotated[
            float, strawberry.argument(description="Monthly discount rate, 0..1.")
        ] = 0.01,
        as_of: Annotated[
            dt.date | None,
            strawberry.argument(description="Default: the day after the latest order."),
        ] = None,
    ) -> ClvAnalysis:
        result = await resolve_lifetime_value(
            info.context, dataset, horizon_months, discount_rate, as_of
        )
        return ClvAnalysis.from_result(result)
