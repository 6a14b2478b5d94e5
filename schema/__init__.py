"""The GraphQL schema: one small Query/Mutation class per domain, composed here."""

from __future__ import annotations

import strawberry
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from schema.ask import AskMutation
from schema.churn import ChurnQuery
from schema.clv import ClvQuery
from schema.customers import CustomerQuery
from schema.datasets import DatasetQuery
from schema.drift import DriftQuery
from schema.errors import ErrorPolicy
from schema.forecast import ForecastQuery
from schema.jobs import JobMutation, JobQuery, Subscription
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
):
    pass


@strawberry.type
class Mutation(AskMutation, ReportMutation, JobMutation, SegmentationMutation):
    pass


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            ErrorPolicy,
            # Hostile documents are refused before they run: the deepest real
            # query (customers > edges > node > orders > items > product) is 7.
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
        ],
    )


schema = build_schema()
