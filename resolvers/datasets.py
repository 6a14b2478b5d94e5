from __future__ import annotations

from analytics.db import Dataset, list_datasets
from resolvers._utils import off_loop
from resolvers.context import Context


async def resolve_datasets(context: Context) -> list[Dataset]:
    return await off_loop(list_datasets, context.store.engine)
