"""Errors a caller can act on; anything else is an internal fault."""

from __future__ import annotations


class AnalyticsError(Exception):
    """Base of the errors caused by what a user asked for or sent."""

    code = "BAD_USER_INPUT"


class DatasetNotFoundError(AnalyticsError, LookupError):
    code = "NOT_FOUND"

    def __init__(self, dataset_id: str) -> None:
        super().__init__(f"dataset {dataset_id!r} does not exist")
        self.dataset_id = dataset_id


class CustomerNotFoundError(AnalyticsError, LookupError):
    code = "NOT_FOUND"

    def __init__(self, dataset_id: str, customer_id: str) -> None:
        super().__init__(f"customer {customer_id!r} does not exist in dataset {dataset_id!r}")
        self.dataset_id = dataset_id
        self.customer_id = customer_id


class InvalidArgumentError(AnalyticsError, ValueError):
    """An argument is out of range or inconsistent; the message names it."""
