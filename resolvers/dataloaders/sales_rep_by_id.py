from __future__ import annotations

from analytics.records import SalesRepRecord, fetch_sales_reps
from resolvers.dataloaders._base import EngineLoader


class SalesRepByIdLoader(EngineLoader[SalesRepRecord | None]):
    fetch = staticmethod(fetch_sales_reps)
