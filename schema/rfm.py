from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pandas as pd
import strawberry
from strawberry.types import Info

from analytics.errors import InvalidArgumentError
from analytics.rfm import SEGMENTS, RfmResult
from resolvers.context import Context
from resolvers.rfm import resolve_rfm
from schema._utils import convert
from schema.scalars import JSON

MAX_SCORES_PAGE = 1000


@strawberry.type(description="One RFM segment of the R/F grid (DESIGN.md).")
class RfmSegment:
    segment: str
    customers: int
    revenue: float
    revenue_share: float | None
    average_recency: float | None = strawberry.field(description="Days.")
    average_frequency: float | None
    average_monetary: float | None


@strawberry.type(description="A customer's RFM values and quintile scores (5 best).")
class RfmScore:
    customer_id: strawberry.ID
    name: str | None
    recency: int = strawberry.field(description="Days from the last order to asOf.")
    frequency: int = strawberry.field(description="Distinct orders.")
    monetary: float = strawberry.field(description="Revenue.")
    r_score: int
    f_score: int
    m_score: int
    rfm_score: str = strawberry.field(description='The three scores, e.g. "545".')
    segment: str

    @classmethod
    def from_row(cls, row: Any) -> RfmScore:
        return cls(
            customer_id=strawberry.ID(str(row.external_id)),
            name=None if pd.isna(row.name) else str(row.name),
            recency=int(row.recency),
            frequency=int(row.frequency),
            monetary=float(row.monetary),
            r_score=int(row.r_score),
            f_score=int(row.f_score),
            m_score=int(row.m_score),
            rfm_score=str(row.rfm_score),
            segment=str(row.segment),
        )


@strawberry.type
class RfmScorePage:
    total_count: int
    offset: int
    items: list[RfmScore]


@strawberry.type(description="RFM scores of a dataset's customers at asOf.")
class RfmAnalysis:
    result: strawberry.Private[RfmResult]
    as_of: dt.date
    customer_count: int = strawberry.field(description="Customers who ordered before asOf.")
    segments: list[RfmSegment]

    @classmethod
    def from_result(cls, result: RfmResult) -> RfmAnalysis:
        return cls(
            result=result,
            as_of=result.as_of,
            customer_count=result.customer_count,
            segments=[convert(RfmSegment, s) for s in result.segments],
        )

    @strawberry.field(description="Per-customer scores in source id order, a page at a time.")
    def customers(
        self,
        first: Annotated[int, strawberry.argument(description="1..1000")] = 100,
        offset: int = 0,
        segment: Annotated[
            str | None, strawberry.argument(description="Only this segment.")
        ] = None,
    ) -> RfmScorePage:
        if not 1 <= first <= MAX_SCORES_PAGE:
            raise InvalidArgumentError(f"first: expected 1..{MAX_SCORES_PAGE}, got {first}")
        if offset < 0:
            raise InvalidArgumentError(f"offset: expected 0 or more, got {offset}")
        rows = self.result.customers
        if segment is not None:
            if segment not in SEGMENTS:
                raise InvalidArgumentError(
                    f"segment: expected one of {', '.join(SEGMENTS)}, got {segment!r}"
                )
            rows = rows.loc[rows["segment"] == segment]
        page = rows.iloc[offset : offset + first]
        return RfmScorePage(
            total_count=len(rows),
            offset=offset,
            items=[RfmScore.from_row(row) for row in page.itertuples()],
        )

    @strawberry.field(description="3D scatter of the R, F and M scores coloured by segment.")
    def figure(self) -> JSON:
        return self.result.figure  # type: ignore[return-value]

    @strawberry.field(description="Bar chart of customers per segment.")
    def segment_figure(self) -> JSON:
        return self.result.segment_figure  # type: ignore[return-value]


@strawberry.type
class RfmQuery:
    @strawberry.field(description="Recency, frequency and monetary scores and segments.")
    async def rfm(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        as_of: Annotated[
            dt.date | None,
            strawberry.argument(description="Default: the day after the latest order."),
        ] = None,
    ) -> RfmAnalysis:
        return RfmAnalysis.from_result(await resolve_rfm(info.context, dataset, as_of))
