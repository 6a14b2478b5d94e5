from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from analytics.db import Dataset as DatasetRow
from resolvers.context import Context
from resolvers.datasets import resolve_datasets
from schema._utils import convert


@strawberry.type(description="A workspace of data: the unit of import, analysis and access.")
class Dataset:
    id: strawberry.ID
    name: str
    kind: str
    source_filename: str | None
    source_format: str | None
    source_size: int | None
    source_sha256: str | None
    rows_read: int
    rows_imported: int
    rows_rejected: int
    version: int = strawberry.field(description="Bumped on every change to the dataset.")
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: DatasetRow) -> Dataset:
        return convert(cls, row, id=strawberry.ID(row.id))


@strawberry.type
class DatasetQuery:
    @strawberry.field(description="Every dataset the caller can read.")
    async def datasets(self, info: Info[Context, None]) -> list[Dataset]:
        return [Dataset.from_row(row) for row in await resolve_datasets(info.context)]
