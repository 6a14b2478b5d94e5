"""The GraphQL schema: one small Query/Mutation class per domain, composed here."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import ASTValidationRule
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from schema.access import AccessMutation, AccessQuery
from schema.ask import AskMutation
from schema.audit import AuditTrail
from schema.churn import ChurnQuery
from schema.clv import ClvQuery
from schema.customers import CustomerQuery
from schema.datasets import DatasetQuery
from schema.drift import DriftQuery
from schema.errors import ErrorPolicy
from schema.forecast import ForecastQuery
from schema.jobs import JobMutation, JobQuery, Subscription
from schema.limits import (
    DEFAULT_MAX_QUERY_COST,
    HideSuggestions,
    QueryCostLimiter,
    shape_limits_rule,
)
from schema.metrics import OperationMetrics
from schema.reports import ReportMutation, ReportQuery
from schema.rfm import RfmQuery
from schema.sales import SalesQuery
from schema.segmentation import SegmentationMutation, SegmentationQuery

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 2000


@strawberry.type
class Query(
    DatasetQuery,
    CustomerQuery,
    SalesQuery,
    RfmQuery,
    ReportQuery,
    JobQuery,
    DriftQuery,
    ForecastQuery,
    ClvQuery,
    SegmentationQuery,
    ChurnQuery,
    AccessQuery,
):
    pass


@strawberry.type
class Mutation(AskMutation, ReportMutation, JobMutation, SegmentationMutation, AccessMutation):
    pass


def build_schema(
    *,
    max_query_cost: int = DEFAULT_MAX_QUERY_COST,
    introspection: bool = True,
    field_suggestions: bool = True,
) -> strawberry.Schema:
    """The schema with its limits; ``field_suggestions`` are the "Did you mean" hints."""
    # Hostile documents are refused before they run: the deepest real query
    # (customers > edges > node > orders > items > product) is 7. The rule is
    # made once because ValidationCache keys on the rule classes.
    shape_limits: list[type[ASTValidationRule]] = [shape_limits_rule(MAX_DEPTH, MAX_ALIASES)]
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        # First: it times the whole operation and sees errors as ErrorPolicy left them.
        OperationMetrics,
        ErrorPolicy,
        AuditTrail,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules(shape_limits),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        # After ValidationCache: the cost is counted on a validated document.
        lambda: QueryCostLimiter(max_cost=max_query_cost),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    if not field_suggestions:
        extensions.append(HideSuggestions)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not field_suggestions),
    )


schema = build_schema()
