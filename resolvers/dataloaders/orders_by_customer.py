from __future__ import annotations

from analytics.records import OrderRecord, fetch_orders_by_customer
from resolvers.dataloaders._base import EngineLoader


class OrdersByCustomerLoader(EngineLoader[list[OrderRecord]]):
    fetch = staticmethod(fetch_orders_by_customer)
