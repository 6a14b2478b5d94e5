"""Dates and windows shared by every analytic (the ``asOf`` rule lives here)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from analytics.errors import InvalidArgumentError

DEFAULT_WINDOW_DAYS = 365


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of calendar days."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise InvalidArgumentError(
                f"period: start {self.start.isoformat()} is after end {self.end.isoformat()}"
            )

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> DateRange:
        """The range of equal length that ends the day before this one starts."""
        if (self.start - dt.date.min).days < self.days:
            raise InvalidArgumentError(
                f"period: no {self.days}-day period precedes {self.start.isoformat()} "
                "to compare with; start it later"
            )
        end = self.start - dt.timedelta(days=1)
        return DateRange(end - dt.timedelta(days=self.days - 1), end)

    def mask(self, dates: pd.Series) -> pd.Series:
        """Boolean mask of the ``datetime64`` values that fall inside the range."""
        start = pd.Timestamp(self.start)
        end = pd.Timestamp(self.end) + pd.Timedelta(days=1)
        return (dates >= start) & (dates < end)


def default_as_of(latest_order_date: dt.date | None) -> dt.date:
    """The day after the latest order: analyses of historical data stay historical.

    A dataset without orders has no history to anchor on, so it falls back to today.
    """
    if latest_order_date is None:
        return dt.date.today()
    return latest_order_date + dt.timedelta(days=1)


def window_ending(as_of: dt.date, days: int = DEFAULT_WINDOW_DAYS) -> DateRange:
    """The ``days``-long window whose last day is the day before ``as_of``."""
    if days < 1:
        raise InvalidArgumentError(f"window: expected at least 1 day, got {days}")
    end = as_of - dt.timedelta(days=1)
    return DateRange(end - dt.timedelta(days=days - 1), end)
