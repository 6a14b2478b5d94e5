"""Per-request DataLoaders: one statement per batch of keys, never one per row."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from resolvers.dataloaders.items_by_order import ItemsByOrderLoader
from resolvers.dataloaders.orders_by_customer import OrdersByCustomerLoader
from resolvers.dataloaders.product_by_id import ProductByIdLoader
from resolvers.dataloaders.sales_rep_by_id import SalesRepByIdLoader


@dataclass(frozen=True)
class DataLoaders:
    orders_by_customer: OrdersByCustomerLoader
    items_by_order: ItemsByOrderLoader
    product_by_id: ProductByIdLoader
    sales_rep_by_id: SalesRepByIdLoader

    @classmethod
    def create(cls, engine: Engine) -> DataLoaders:
        return cls(
            orders_by_customer=OrdersByCustomerLoader(engine),
            items_by_order=ItemsByOrderLoader(engine),
            product_by_id=ProductByIdLoader(engine),
            sales_rep_by_id=SalesRepByIdLoader(engine),
        )


__all__ = [
    "DataLoaders",
    "ItemsByOrderLoader",
    "OrdersByCustomerLoader",
    "ProductByIdLoader",
    "SalesRepByIdLoader",
]
