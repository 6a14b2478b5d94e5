from __future__ import annotations

from analytics.db import Dataset, list_datasets
from resolvers._utils import off_loop
from resolvers.context import Context


async def resolve_datasets(context: Context) -> list[Dataset]:
    """The datasets the caller may see; the others are not mentioned at all."""
    datasets = await off_loop(list_datasets, context.store.engine)
    return [dataset for dataset in datasets if context.principal.can_see(dataset.id)]
