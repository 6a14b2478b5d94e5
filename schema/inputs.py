from __future__ import annotations

import datetime as dt
import enum

import strawberry

from analytics.periods import DateRange


@strawberry.enum
class SortDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.input(name="DateRange", description="An inclusive range of calendar days.")
class DateRangeInput:
    start: dt.date
    end: dt.date


def to_range(period: DateRangeInput | None) -> DateRange | None:
    """The analytics range for an optional input; raises when start is after end."""
    return None if period is None else DateRange(period.start, period.end)
