"""The GraphQL schema: one small Query/Mutation class per domain, composed here."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from schema.customers import CustomerQuery
from schema.datasets import DatasetQuery
from schema.errors import ErrorPolicy
from schema.jobs import JobMutation, JobQuery, Subscription
from schema.reports import ReportMutation, ReportQuery
from schema.rfm import RfmQuery
from schema.sales import SalesQuery


@strawberry.type
class Query(DatasetQuery, CustomerQuery, SalesQuery, RfmQuery, ReportQuery, JobQuery):
    pass


@strawberry.type
class Mutation(ReportMutation, JobMutation):
    pass


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            ErrorPolicy,
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
        ],
    )


schema = build_schema()
