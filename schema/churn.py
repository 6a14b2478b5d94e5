from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.types import Info

from analytics import churn
from resolvers.churn import resolve_churn_risk
from resolvers.context import Context
from schema._utils import convert
from schema.scalars import JSON

ChurnMode = strawberry.enum(
    churn.ChurnMode,
    description=(
        "TIME_SPLIT: churn read from the order history (no order within the horizon); "
        "LABEL: from the churn column of an uploaded customer table."
    ),
)
ChurnRiskLevel = strawberry.enum(
    churn.RiskLevel,
    name="ChurnRiskLevel",
    description="LOW below 0.3, MEDIUM 0.3 to 0.7, HIGH from 0.7.",
)
ChurnFactorDirection = strawberry.enum(
    churn.FactorDirection,
    name="ChurnFactorDirection",
    description="Whether higher values of a factor go with higher predicted churn risk.",
)


@strawberry.type
class ChurnRiskBucket:
    level: ChurnRiskLevel  # type: ignore[valid-type]
    customers: int
    share: float = strawberry.field(description="Share of the scored customers, 0..1.")


@strawberry.type(description="A feature's weight in the churn model.")
class ChurnFactor:
    feature: str
    label: str
    importance: float = strawberry.field(
        description="Mean drop in held-out AUC when the feature is shuffled."
    )
    direction: ChurnFactorDirection  # type: ignore[valid-type]
    riskiest_value: str | None = strawberry.field(
        description="For a category: the value with the highest mean predicted risk."
    )


@strawberry.type(description="How much one of a customer's values raises their churn risk.")
class ChurnFactorContribution:
    feature: str
    label: str
    value: str | None
    typical_value: str | None = strawberry.field(
        description="Median (or most common value) of the customers the model learned from."
    )
    effect: float = strawberry.field(
        description="Probability minus the probability with the typical value instead."
    )


@strawberry.type
class CustomerChurnRisk:
    customer_id: strawberry.ID
    name: str | None
    probability: float = strawberry.field(
        description="Probability of no order within the horizon (or of the churn label)."
    )
    risk_level: ChurnRiskLevel  # type: ignore[valid-type]
    recency: int | None
    frequency: int | None
    monetary: float | None
    top_factors: list[ChurnFactorContribution]

    @classmethod
    def from_result(cls, risk: churn.CustomerChurnRisk) -> CustomerChurnRisk:
        return convert(
            cls,
            risk,
            customer_id=strawberry.ID(risk.customer_id),
            top_factors=[convert(ChurnFactorContribution, f) for f in risk.top_factors],
        )


@strawberry.type
class ChurnTrendPoint:
    month: dt.date = strawberry.field(description="First day of the month: the cutoff.")
    churn_rate: float = strawberry.field(
        description="Percent of the customers active at the cutoff with no order in the horizon."
    )
    customers: int
    churners: int


@strawberry.type(description="The chosen model on the held-out customers.")
class ChurnModelMetrics:
    algorithm: str
    auc: float | None
    precision: float
    recall: float
    f1: float
    threshold: float
    train_size: int
    test_size: int
    base_rate: float = strawberry.field(description="Share of churners among the observed.")


@strawberry.type(description="Churn risk of a dataset's customers; definitions in analytics.churn.")
class ChurnAnalysis:
    as_of: dt.date
    cutoff: dt.date | None = strawberry.field(
        description="asOf - horizonDays: the model learns who churned after it (TIME_SPLIT)."
    )
    horizon_days: int
    mode: ChurnMode  # type: ignore[valid-type]
    current_churn_rate: float = strawberry.field(
        description=(
            "Percent of the customers active in the 365 days before the cutoff who placed no "
            "order from the cutoff to asOf (LABEL: percent labelled churned)."
        )
    )
    average_churn_probability: float = strawberry.field(
        description="Mean predicted probability over the scored customers."
    )
    total_churners: int
    observed_customers: int = strawberry.field(
        description="Customers whose outcome is known: active at the cutoff, or labelled."
    )
    scored_customers: int = strawberry.field(
        description="Customers with a probability: active in the 365 days before asOf (LABEL: all)."
    )
    risk_distribution: list[ChurnRiskBucket]
    top_at_risk: list[CustomerChurnRisk]
    factors: list[ChurnFactor]
    trend: list[ChurnTrendPoint]
    model: ChurnModelMetrics
    distribution_figure: JSON
    factors_figure: JSON
    trend_figure: JSON

    @classmethod
    def from_result(
        cls, result: churn.ChurnResult, top: tuple[churn.CustomerChurnRisk, ...]
    ) -> ChurnAnalysis:
        return convert(
            cls,
            result,
            risk_distribution=[convert(ChurnRiskBucket, b) for b in result.risk_distribution],
            top_at_risk=[CustomerChurnRisk.from_result(risk) for risk in top],
            factors=[convert(ChurnFactor, f) for f in result.factors],
            trend=[convert(ChurnTrendPoint, p) for p in result.trend],
            model=convert(ChurnModelMetrics, result.model),
        )


@strawberry.type
class ChurnQuery:
    @strawberry.field(
        description=(
            "Who is likely to stop buying: a model trained on the dataset's own history "
            "(or its churn label), with its accuracy, factors and monthly churn rate."
        )
    )
    async def churn_risk(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        as_of: dt.date | None = None,
        horizon_days: Annotated[
            int, strawberry.argument(description="Days without an order that mean churned, 1..730.")
        ] = churn.DEFAULT_HORIZON_DAYS,
        top: Annotated[
            int, strawberry.argument(description="Customers in topAtRisk, 1..1000.")
        ] = 20,
    ) -> ChurnAnalysis:
        result, at_risk = await resolve_churn_risk(info.context, dataset, as_of, horizon_days, top)
        return ChurnAnalysis.from_result(result, at_risk)
