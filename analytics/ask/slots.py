"""Arguments read from a question's words, for the local askAI provider.

Periods are relative to the dataset, never to the wall clock: "today" is the
last day before the dataset's ``asOf`` (the day after its latest order), so
"this year" of a dataset whose last order is 1997-06-30 is 1997-01-01 to
1997-06-30. A named month or quarter without a year ("in March", "Q3") is
the latest one that has started by then. Customer ids, categories and
regions are only recognised when the dataset has them, spelled as in the
data (case aside); they are matched as values and never interpreted.

Every match is also masked in ``Slots.masked`` (e.g. "revenue in March" ->
"revenue in period"), so routing sees the shape of a question, not its
values.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from analytics.frames import DatasetFrames
from analytics.periods import DateRange
from analytics.rfm import SEGMENTS
from analytics.sales import Granularity

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "a dozen": 12, "dozen": 12,
}  # fmt: skip
MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4,
            "4th": 4}  # fmt: skip
UNITS = ("day", "week", "month", "quarter", "year")
UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 30.44, "quarter": 91.31, "year": 365.25}
UNIT_MONTHS = {"month": 1, "quarter": 3, "year": 12}
GRANULARITY_OF_UNIT = {
    "day": Granularity.DAY,
    "week": Granularity.WEEK,
    "month": Granularity.MONTH,
    "quarter": Granularity.QUARTER,
    "year": Granularity.YEAR,
}

_NUMBER = r"(\d{1,3}|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_UNIT = r"(days?|weeks?|months?|quarters?|years?)"
_MONTH = r"(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"((?:19|20)\d{2})"
# "may" and the abbreviations are words too: alone they need a date-ish word before them.
_MONTH_CUE = re.compile(r"(?:\b(?:in|of|for|during|since|from|to|until|through|between|and|"
                        r"last|this|each|every)\s+)$")  # fmt: skip
_FULL_MONTHS = {name for name in MONTHS if len(name) > 4 or name in ("june", "july")} - {"may"}
_LOWEST = re.compile(
    r"\b(worst|lowest|least|fewest|weakest|bottom|smallest|poorest|slowest|underperform\w*)\b"
)
_COMPARE = re.compile(
    r"\b(vs\.?|versus|compared?|comparison|against|growth|grow|grew|change[ds]?|increase[ds]?|"
    r"decrease[ds]?|up or down|improve[ds]?|decline[ds]?|yoy|mom|qoq|over the same)\b"
)
_OVER = re.compile(r"\b(?:(day|week|month|quarter|year)[- ](?:over|on)[- ]\1|(yoy|qoq|mom|wow))\b")
_ABBREVIATED = {"yoy": "year", "qoq": "quarter", "mom": "month", "wow": "week"}
_SAME_LAST_YEAR = re.compile(
    r"\b(same \w+ (a |one )?year (ago|earlier|before)|same \w+ last year|a year ago)\b"
)
_BASELINE_CUE = re.compile(
    r"\b(?:than|compared? (?:to|with)|compares (?:to|with)|vs\.?|versus|against|relative to)"
    r"\s+(?:in\s+|the\s+)?$"
)
_CUSTOMER_WORDS = {"customer", "customers", "client", "clients", "buyer", "account"}
# Words of a category or region name too common to stand for it alone ("home", "new").
_STOP_ALIASES = {"home", "and", "the", "other", "unknown", "sales", "total", "new", "all", "none"}


def _number(text: str) -> int:
    text = text.strip().lower()
    return int(text) if text.isdigit() else NUMBER_WORDS[text]


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months; a day past the new month's end becomes its last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def month_span(period: DateRange) -> int | None:
    """How many whole calendar months ``period`` covers, or None when it is not month-aligned."""
    if period.start.day != 1 or period.end != _month_end(period.end.year, period.end.month):
        return None
    return (period.end.year - period.start.year) * 12 + period.end.month - period.start.month + 1


def _months_range(year: int, first_month: int, months: int) -> DateRange:
    start = dt.date(year, first_month, 1)
    last = add_months(start, months - 1)
    return DateRange(start, _month_end(last.year, last.month))


def shift_period(period: DateRange, unit: str | None = None, steps: int = -1) -> DateRange:
    """``period`` moved back (``steps`` < 0) or forward, for "the month before" and the like.

    Without a ``unit``, or with one shorter than the period, it moves by its
    own length (a calendar month to the month before, a quarter to the
    quarter before, any other range to the range of equal length). With a
    longer unit it moves by that unit: March "the year before" is March of
    the year before.
    """
    months = month_span(period)
    if unit is None or UNIT_DAYS[unit] < 0.9 * period.days:
        if months is not None:
            start = add_months(period.start, steps * months)
            last = add_months(start, months - 1)
            return DateRange(start, _month_end(last.year, last.month))
        delta = dt.timedelta(days=steps * period.days)
        return DateRange(period.start + delta, period.end + delta)
    if unit in UNIT_MONTHS:
        by = steps * UNIT_MONTHS[unit]
        start = add_months(period.start, by)
        if months is not None:
            last = add_months(start, months - 1)
            return DateRange(start, _month_end(last.year, last.month))
        return DateRange(start, add_months(period.end, by))
    delta = dt.timedelta(days=steps * UNIT_DAYS[unit])
    return DateRange(period.start + delta, period.end + delta)


@dataclass(frozen=True)
class Vocabulary:
    """What the question may name, as spelled in one dataset, and its reference day."""

    as_of: dt.date
    customer_ids: frozenset[str] = frozenset()
    customer_names: Mapping[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    @property
    def today(self) -> dt.date:
        """The last day of the data: what "this month" and "last year" count from."""
        return self.as_of - dt.timedelta(days=1)

    @classmethod
    def from_frames(cls, frames: DatasetFrames) -> Vocabulary:
        customers = frames.customers
        ids = customers["external_id"].dropna().astype("str")
        names = customers["name"].astype("object")
        by_name: dict[str, list[str]] = {}
        for name, external_id in zip(names, customers["external_id"], strict=True):
            if isinstance(name, str) and len(name.split()) >= 2:
                by_name.setdefault(_normalize(name), []).append(str(external_id))
        regions = {*customers["region"].dropna().astype("str"), *frames.sales_reps["region"]
                   .dropna().astype("str")}  # fmt: skip
        return cls(
            as_of=frames.default_as_of,
            customer_ids=frozenset(ids),
            customer_names={name: found[0] for name, found in by_name.items() if len(found) == 1},
            categories=tuple(sorted(frames.products["category"].dropna().astype("str").unique())),
            regions=tuple(sorted(region for region in regions if region.strip())),
        )


@dataclass(frozen=True)
class Mention:
    """A period named in the question, with where it was said."""

    start: int
    end: int
    period: DateRange
    # "previous" for "the previous month" (a shift in a follow-up), else "absolute"/"relative".
    kind: str = "absolute"
    unit: str | None = None
    # A month or quarter named without a year, re-resolved when a range gives one.
    first_month: int | None = None
    months: int | None = None
    # Said as what to compare with: "than last year", "compared to 2023".
    baseline: bool = False


@dataclass(frozen=True)
class Shift:
    """ "the month before", "a year earlier", "before that": move the previous period."""

    unit: str | None
    steps: int


@dataclass(frozen=True)
class Slots:
    """Everything extracted from one question (``None`` when not said)."""

    masked: str
    mentions: tuple[Mention, ...] = ()
    period: DateRange | None = None
    shift: Shift | None = None
    count: int | None = None
    horizon: tuple[int, str] | None = None
    granularity: Granularity | None = None
    customer_id: str | None = None
    unknown_customer_id: str | None = None
    category: str | None = None
    region: str | None = None
    segment: str | None = None
    kpi_metric: str | None = None
    rep_metric: str | None = None
    customer_metric: str | None = None
    lowest: bool = False
    compare: bool = False
    # "year over year", "QoQ": compare with the period one such unit before.
    compare_unit: str | None = None

    @property
    def periods(self) -> tuple[DateRange, ...]:
        return tuple(mention.period for mention in self.mentions)


def _normalize(text: str) -> str:
    text = text.casefold().replace("&", " and ")
    return " ".join(re.sub(r"[^\w']+", " ", text).split())


class _Text:
    """The question, with the parts already understood blanked out of ``work``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.work = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        self.masks: list[tuple[int, int, str]] = []

    def take(self, start: int, end: int, placeholder: str) -> None:
        self.work = self.work[:start] + " " * (end - start) + self.work[end:]
        self.masks.append((start, end, placeholder))

    def finditer(self, pattern: str | re.Pattern[str]) -> Iterable[re.Match[str]]:
        return list(re.finditer(pattern, self.work))

    def masked(self) -> str:
        parts, position = [], 0
        for start, end, placeholder in sorted(self.masks):
            if start < position:
                continue
            parts += [self.text[position:start], f" {placeholder} "]
            position = end
        parts.append(self.text[position:])
        return " ".join("".join(parts).split())


def extract_slots(question: str, vocabulary: Vocabulary) -> Slots:
    """Read periods, counts, names and metrics from ``question`` (see the module docstring)."""
    text = _Text(question)
    customer_id, unknown_id = _customer(text, vocabulary)
    if customer_id is None:
        customer_id = _customer_named(text, vocabulary)
        unknown_id = None if customer_id else unknown_id
    category = _name_in(text, vocabulary.categories, "category")
    region = _name_in(text, vocabulary.regions, "region")
    segment = _segment(text)
    compare_unit = _compare_unit(text)
    shift = _shift(text)
    horizon = _horizon(text)
    mentions = _PeriodReader(text, vocabulary.today).read()
    period = _combine(text, mentions, vocabulary.today)
    count = _count(text)
    granularity = _granularity(text)
    words = text.work
    return Slots(
        masked=text.masked(),
        mentions=tuple(mentions),
        period=period,
        shift=shift,
        count=count,
        horizon=horizon,
        granularity=granularity,
        customer_id=customer_id,
        unknown_customer_id=unknown_id,
        category=category,
        region=region,
        segment=segment,
        kpi_metric=_kpi_metric(words),
        rep_metric=_rep_metric(words),
        customer_metric=_customer_metric(words),
        lowest=bool(_LOWEST.search(words)),
        compare=bool(_COMPARE.search(words)),
        compare_unit=compare_unit,
    )


def _compare_unit(text: _Text) -> str | None:
    for match in text.finditer(_OVER):
        text.take(match.start(), match.end(), "compare")
        return match.group(1) or _ABBREVIATED[match.group(2)]
    return "year" if _SAME_LAST_YEAR.search(text.work) else None


def _customer(text: _Text, vocabulary: Vocabulary) -> tuple[str | None, str | None]:
    ids = vocabulary.customer_ids
    for token in re.finditer(r"[A-Za-z0-9][\w\-.]*[A-Za-z0-9]|[A-Za-z0-9]", text.text):
        value = token.group()
        before = text.work[max(0, token.start() - 12) : token.start()]
        cued = bool(re.search(r"(customer|client|account|buyer|\bid|#|number|no\.?)\s*:?\s*#?$",
                              before))  # fmt: skip
        if value.isdigit() and not cued:
            continue
        # Exact, or in another case when the token has a digit ("c000042").
        spellings = [value] + ([value.upper(), value.lower()] if not value.isalpha() else [])
        known = next((spelling for spelling in spellings if spelling in ids), None)
        if known is not None:
            text.take(token.start(), token.end(), "customerid")
            return known, None
    named = re.search(r"\b(?:customer|client|account|buyer)\s*(?:id|number|no\.?)?\s*:?\s*#?\s*"
                      r"([a-z0-9][\w\-]*\d[\w\-]*)", text.work)  # fmt: skip
    if named is not None and not re.fullmatch(_YEAR, named.group(1)):
        start, end = named.span(1)
        text.take(start, end, "customerid")
        return None, text.text[start:end]
    return None, None


def _customer_named(text: _Text, vocabulary: Vocabulary) -> str | None:
    """The id of the one customer whose full name follows "customer" (or "client"...).

    Names are data, so only a name the question introduces as a customer
    counts: a customer called "top customers" cannot steer "who are our top
    customers?" anywhere.
    """
    if not vocabulary.customer_names:
        return None
    words = _normalize(text.work).split()
    for size in range(min(8, len(words)), 1, -1):
        for first in range(1, len(words) - size + 1):
            phrase = " ".join(words[first : first + size])
            found = vocabulary.customer_names.get(phrase)
            if found is not None and _CUSTOMER_WORDS.intersection(words[max(0, first - 3) : first]):
                _take_phrase(text, phrase, "customerid")
                return found
    return None


def _take_phrase(text: _Text, phrase: str, placeholder: str) -> bool:
    """Blank ``phrase`` (normalized words) in ``text``, whatever punctuation is between words."""
    words = [r"(?:and|&)" if word == "and" else re.escape(word) for word in phrase.split()]
    if not words:
        return False
    match = re.search(r"(?<!\w)" + r"[\W_]+".join(words) + r"(?!\w)", text.work)
    if match is None:
        return False
    text.take(match.start(), match.end(), placeholder)
    return True


def _name_in(text: _Text, names: Iterable[str], placeholder: str) -> str | None:
    names = list(names)
    for name in sorted(names, key=len, reverse=True):
        if _take_phrase(text, _normalize(name), placeholder + "name"):
            return name
    # A distinctive word of a name ("electronics", "kitchen", "toys") stands for it.
    aliases: dict[str, list[str]] = {}
    for name in names:
        for word in _normalize(name).split():
            if len(word) >= 4 and word not in _STOP_ALIASES:
                aliases.setdefault(word, []).append(name)
    for word, owners in aliases.items():
        if len(set(owners)) == 1 and _take_phrase(text, word, placeholder + "name"):
            return owners[0]
    return None


_SEGMENT_ALIASES = {
    **{_normalize(segment): segment for segment in SEGMENTS},
    "champion": "Champions",
    "loyal customers": "Loyal",
    "potential loyalist": "Potential Loyalists",
    "cant lose them": "Can't Lose Them",
    "cannot lose them": "Can't Lose Them",
    "can\u2019t lose them": "Can't Lose Them",
    "needs attention": "Need Attention",
}


def _segment(text: _Text) -> str | None:
    for alias in sorted(_SEGMENT_ALIASES, key=len, reverse=True):
        if _take_phrase(text, alias, "segmentname"):
            return _SEGMENT_ALIASES[alias]
    return None


def _shift(text: _Text) -> Shift | None:
    patterns = (
        (r"\b(?:the|a|an|one)\s+(day|week|month|quarter|year|period)s?\s+"
         r"(before|prior|earlier|after|later)\b"),
        r"\b(a|one|\d+)\s+(day|week|month|quarter|year)s?\s+(earlier|ago|before|after|later)\b",
        r"\b(before|after) that\b",
        r"\bsame (?:\w+ )?(?:period )?(last|previous|prior) year\b",
        r"\b(?:the )?(previous|prior|preceding|following) (?:one|period)\b",
    )  # fmt: skip
    for pattern in patterns:
        for match in text.finditer(pattern):
            groups = [g for g in match.groups() if g]
            words = " ".join(groups)
            steps = 1 if re.search(r"after|later|following", words) else -1
            unit = next((g.rstrip("s") for g in groups if g.rstrip("s") in UNITS), None)
            if "same" in match.group():
                unit = "year"
            if groups and groups[0].isdigit() and len(groups) >= 2:
                steps *= int(groups[0])
            text.take(match.start(), match.end(), "shift")
            return Shift(unit, steps)
    return None


def _horizon(text: _Text) -> tuple[int, str] | None:
    patterns = (
        r"\bnext\s+" + _NUMBER + r"?\s*" + _UNIT + r"\b",
        r"\b" + _NUMBER + r"[- ]" + _UNIT + r"(?=\s+(?:ahead|out|forecast|horizon|forward|clv|"
        r"ltv|cltv|lifetime value|prediction|predicted))",
        r"\b(?:for|over)\s+(?:the\s+)?(?:coming\s+|upcoming\s+|following\s+)?"
        + _NUMBER
        + r"\s+"
        + _UNIT
        + r"(?!\s+(?:ago|before|earlier))\b",
        r"\bcoming\s+" + _NUMBER + r"?\s*" + _UNIT + r"\b",
    )
    for pattern in patterns:
        for match in text.finditer(pattern):
            number, unit = match.group(1), match.group(2)
            text.take(match.start(), match.end(), "horizon")
            return (_number(number) if number else 1, unit.rstrip("s"))
    return None


class _PeriodReader:
    """Finds the periods of a question, most specific wording first."""

    def __init__(self, text: _Text, today: dt.date) -> None:
        self.text = text
        self.today = today
        self.found: list[Mention] = []

    def add(
        self,
        match: re.Match[str],
        period: DateRange,
        kind: str = "absolute",
        unit: str | None = None,
        first_month: int | None = None,
        months: int | None = None,
    ) -> None:
        baseline = bool(_BASELINE_CUE.search(self.text.text[: match.start()].lower()))
        self.found.append(
            Mention(match.start(), match.end(), period, kind, unit, first_month, months, baseline)
        )
        self.text.take(match.start(), match.end(), "period")

    def add_named(
        self, match: re.Match[str], first_month: int, months: int, year: str | None
    ) -> None:
        """A month, quarter or half, in ``year`` or else the latest one started by today."""
        unit = {1: "month", 3: "quarter", 12: "year"}.get(months)
        if year:
            self.add(match, _months_range(int(year), first_month, months), unit=unit)
            return
        today = self.today
        latest = today.year if dt.date(today.year, first_month, 1) <= today else today.year - 1
        period = _months_range(latest, first_month, months)
        self.add(match, period, unit=unit, first_month=first_month, months=months)

    def read(self) -> list[Mention]:
        text = self.text
        for match in text.finditer(r"\b(\d{4}-\d{2}-\d{2})\b"):
            try:
                day = dt.date.fromisoformat(match.group(1))
            except ValueError:
                continue
            self.add(match, DateRange(day, day), unit="day")
        for match in text.finditer(r"\b" + _YEAR + r"-(0[1-9]|1[0-2])\b"):
            self.add_named(match, int(match.group(2)), 1, match.group(1))
        self._relative()
        quarter_patterns = (
            (r"\b" + _YEAR + r"\s*-?\s*q([1-4])\b", 2, 1),
            (r"\bq([1-4])\s*(?:of\s+|,\s*)?" + _YEAR + r"?\b", 1, 2),
            (r"\b(first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter\s*(?:of\s+)?"
             + _YEAR + r"?\b", 1, 2),
        )  # fmt: skip
        for pattern, quarter_group, year_group in quarter_patterns:
            for match in text.finditer(pattern):
                raw = match.group(quarter_group)
                quarter = ORDINALS[raw] if raw in ORDINALS else int(raw)
                self.add_named(match, 3 * quarter - 2, 3, match.group(year_group))
        for match in text.finditer(
            r"\b(?:h([12])|(first|second|1st|2nd) half)\s*(?:of\s+)?" + _YEAR + r"?\b"
        ):
            half = int(match.group(1)) if match.group(1) else ORDINALS[match.group(2)]
            self.add_named(match, 6 * half - 5, 6, match.group(3))
        for match in text.finditer(r"\b" + _MONTH + r"\s*(?:of\s+|,\s*)?" + _YEAR + r"\b"):
            self.add_named(match, MONTHS[match.group(1)], 1, match.group(2))
        for match in text.finditer(r"\b" + _MONTH + r"(?![\w])"):
            name = match.group(1)
            if name in _FULL_MONTHS or _MONTH_CUE.search(text.work[: match.start()]):
                self.add_named(match, MONTHS[name], 1, None)
        for match in text.finditer(r"\b(?:fy\s?)?" + _YEAR + r"\b"):
            self.add_named(match, 1, 12, match.group(1))
        for match in text.finditer(r"\bfy\s?(\d{2})\b"):
            self.add_named(match, 1, 12, str(2000 + int(match.group(1))))
        return sorted(self.found, key=lambda mention: mention.start)

    def _relative(self) -> None:
        text, today = self.text, self.today
        relative = (
            (r"\b(?:year[- ]to[- ]date|ytd|so far this year|this year|current year|"
             r"this calendar year)\b", DateRange(dt.date(today.year, 1, 1), today), "year"),
            (r"\b(?:month[- ]to[- ]date|mtd|this month|current month|so far this month)\b",
             DateRange(today.replace(day=1), today), "month"),
            (r"\b(?:quarter[- ]to[- ]date|qtd|this quarter|current quarter)\b",
             DateRange(_quarter_start(today), today), "quarter"),
            (r"\b(?:this week|current week)\b",
             DateRange(today - dt.timedelta(days=today.weekday()), today), "week"),
            (r"\byesterday\b", DateRange(today, today), "day"),
        )  # fmt: skip
        for pattern, period, unit in relative:
            for match in text.finditer(pattern):
                self.add(match, period, "relative", unit)
        for match in text.finditer(
            r"\b(?:in\s+|over\s+|during\s+)?(?:the\s+)?(?:last|past|previous|prior|preceding|"
            r"trailing)\s+" + _NUMBER + r"\s+" + _UNIT + r"\b"
        ):
            count, unit = _number(match.group(1)), match.group(2).rstrip("s")
            self.add(match, _rolling(today, count, unit), "relative", unit)
        for match in text.finditer(
            r"\b(?:the\s+)?(last|past|previous|prior|preceding)\s+(day|week|month|quarter|year)\b"
        ):
            which, unit = match.group(1), match.group(2)
            if which == "past":
                period = _rolling(today, 1, unit)
            else:
                period = shift_period(calendar_unit(today, unit), unit, -1)
            kind = "previous" if which in ("previous", "prior", "preceding") else "relative"
            self.add(match, period, kind, unit)


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def calendar_unit(today: dt.date, unit: str) -> DateRange:
    """The whole calendar day/week/month/quarter/year that holds ``today``."""
    if unit == "day":
        return DateRange(today, today)
    if unit == "week":
        monday = today - dt.timedelta(days=today.weekday())
        return DateRange(monday, monday + dt.timedelta(days=6))
    if unit == "month":
        return _months_range(today.year, today.month, 1)
    if unit == "quarter":
        start = _quarter_start(today)
        return _months_range(start.year, start.month, 3)
    return _months_range(today.year, 1, 12)


def _rolling(today: dt.date, count: int, unit: str) -> DateRange:
    """The ``count`` units ending ``today`` ("the last 30 days", "the past 6 months")."""
    if unit in UNIT_MONTHS:
        start = add_months(today, -count * UNIT_MONTHS[unit]) + dt.timedelta(days=1)
    else:
        start = today - dt.timedelta(days=count * int(UNIT_DAYS[unit]) - 1)
    return DateRange(start, today)


def _combine(text: _Text, mentions: list[Mention], today: dt.date) -> DateRange | None:
    """The one period the question is about: a "from A to B" range, "since A", or the first."""
    if not mentions:
        return None
    first = mentions[0]
    if len(mentions) >= 2:
        second = mentions[1]
        between = text.text[first.end : second.start].lower()
        before = text.text[max(0, first.start - 9) : first.start].lower()
        if re.fullmatch(r"\s*(to|until|till|through|thru|and|-|–)\s*", between) and re.search(
            r"(from|between)\s*$", before
        ):
            start = first.period
            if first.first_month is not None and first.months is not None:
                year = second.period.end.year
                start = _months_range(year, first.first_month, first.months)
                if start.start > second.period.start:
                    start = _months_range(year - 1, first.first_month, first.months)
            if start.start <= second.period.end:
                return DateRange(start.start, second.period.end)
    before = text.text[max(0, first.start - 6) : first.start].lower()
    if re.search(r"since\s*$", before) and first.period.start <= today:
        return DateRange(first.period.start, today)
    return first.period


def _count(text: _Text) -> int | None:
    patterns = (
        r"\b(?:top|best|biggest|largest|highest|first|bottom|worst|lowest|leading|most valuable)"
        r"\s+" + _NUMBER + r"\b",
        r"\b" + _NUMBER + r"\s+(?:top|best|biggest|largest|highest|leading|most|worst|lowest|"
        r"riskiest)\b",
        r"\b(?:show|list|give me|name)\s+(?:me\s+)?(?:the\s+)?" + _NUMBER + r"\b",
        r"\b" + _NUMBER + r"\s+(?:customers|clients|buyers|products|items|reps|sales reps|"
        r"salespeople|categories|regions|accounts)\b",
    )
    for pattern in patterns:
        for match in text.finditer(pattern):
            value = _number(match.group(1))
            if value >= 1:
                start, end = match.span(1)
                text.take(start, end, "")
                return value
    return None


_GRANULARITY_WORDS = (
    (r"\b(daily|per day|by day|each day|day by day|a day)\b", Granularity.DAY),
    (r"\b(weekly|per week|by week|each week|week by week|a week)\b", Granularity.WEEK),
    (r"\b(monthly|per month|by month|each month|month by month|a month)\b",
     Granularity.MONTH),
    (r"\b(quarterly|per quarter|by quarter|each quarter|quarter by quarter)\b",
     Granularity.QUARTER),
    (r"\b(yearly|annual|annually|per year|by year|each year|year by year)\b", Granularity.YEAR),
)  # fmt: skip
_WHICH_UNIT = re.compile(r"\b(?:which|what|best|worst|top|highest|lowest|strongest|weakest|"
                         r"busiest|slowest|biggest)\s+(day|week|month|quarter|year)\b")  # fmt: skip


def _granularity(text: _Text) -> Granularity | None:
    """ "monthly", "by quarter", "which week": the size of a series' buckets."""
    for pattern, granularity in _GRANULARITY_WORDS:
        for match in text.finditer(pattern):
            text.take(match.start(), match.end(), "granularity")
            return granularity
    for match in text.finditer(_WHICH_UNIT):
        text.take(match.start(1), match.end(1), "granularity")
        return GRANULARITY_OF_UNIT[match.group(1)]
    return None


def _kpi_metric(words: str) -> str | None:
    table = (
        (r"\b(aov|average order value|avg\.? order value|average order|basket size|"
         r"average basket|average ticket|average sale|order value|average spend per order)\b",
         "average_order_value"),
        (r"\b(retention|retain\w*|returning|come back|came back|repeat rate)\b",
         "retention_rate"),
        (r"\b(active (customers|clients|buyers|accounts)|(customers|clients|buyers) "
         r"(who )?(ordered|bought|purchased|placed)|(customers|clients|buyers) did we (have|"
         r"serve)|how many (customers|clients|buyers) (ordered|bought|purchased|placed|"
         r"were active))\b", "active_customers"),
        (r"\b(how many (customers|clients|buyers) (do|does|did) (we|i) have|number of "
         r"(customers|clients)|customer count|total customers|customer base|size of our "
         r"customer)\b", "total_customers"),
        (r"\b(total lifetime value|lifetime value to date)\b", "lifetime_value"),
        (r"\b(how many (orders|deals|transactions|purchases|sales)|number of (orders|deals|"
         r"transactions|purchases|sales)|order (count|volume)|orders|deals|transactions)\b",
         "orders"),
        (r"\b(revenue|sales|sold|sell|turnover|income|earn\w*|made|make|takings|money|"
         r"gross)\b", "revenue"),
    )  # fmt: skip
    for pattern, metric in table:
        if re.search(pattern, words):
            return metric
    return None


def _rep_metric(words: str) -> str | None:
    if re.search(r"\b(closed?|closing|deals?|orders?|transactions)\b", words):
        return "orders_closed"
    if re.search(r"\b(revenue|sold|sales|money|brought in|turnover|income)\b", words):
        return "revenue"
    return None


def _customer_metric(words: str) -> str | None:
    if re.search(r"\b(most (orders|purchases|often|frequent\w*)|(ordered|bought|purchased|"
                 r"shop\w*) (the )?most often|(ordered|bought|purchased) the most times|number of "
                 r"orders|order count|most loyal by orders|frequen\w+)\b", words):  # fmt: skip
        return "orders"
    if re.search(r"\b(spent|spend|spending|value|revenue|valuable|biggest|largest|money)\b", words):
        return "lifetime_value"
    return None
