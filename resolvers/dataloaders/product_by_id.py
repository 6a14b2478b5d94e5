from __future__ import annotations

from analytics.records import ProductRecord, fetch_products
from resolvers.dataloaders._base import EngineLoader


class ProductByIdLoader(EngineLoader[ProductRecord | None]):
    fetch = staticmethod(fetch_products)
