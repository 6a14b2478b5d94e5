from __future__ import annotations

from analytics.records import OrderItemRecord, fetch_items_by_order
from resolvers.dataloaders._base import EngineLoader


class ItemsByOrderLoader(EngineLoader[list[OrderItemRecord]]):
    fetch = staticmethod(fetch_items_by_order)
