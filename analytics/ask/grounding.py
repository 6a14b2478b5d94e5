"""Is every number in a model's prose one the server computed?

A language model writes the final sentence of an askAI answer, so its
numbers are checked against the tool results it was given (and the question
and tool arguments, which the caller wrote). Matching is tolerant of how
people write numbers - thousands separators, currency signs, percentages,
``1.2M``, rounding to the precision shown - but a number that no source
supports, at any precision, makes the prose untrustworthy.

Also here: ``render_result``, a plain rendering of a tool result whose
numbers are grounded by construction (the fallback answer).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

MentionKind = Literal["number", "rank", "date", "quarter", "identifier"]

_SCALES: dict[str, Decimal] = {
    "k": Decimal(1_000),
    "thousand": Decimal(1_000),
    "m": Decimal(1_000_000),
    "mn": Decimal(1_000_000),
    "million": Decimal(1_000_000),
    "b": Decimal(1_000_000_000),
    "bn": Decimal(1_000_000_000),
    "billion": Decimal(1_000_000_000),
}
_DAYS_PER_UNIT = {
    "day": 1.0,
    "week": 7.0,
    "month": 365.25 / 12,
    "quarter": 365.25 / 4,
    "year": 365.25,
}

# Alternatives are tried left to right at each position, so a date or an
# identifier is taken whole before its digits could be read as numbers.
_MENTION = re.compile(
    r"""
    (?P<date>\b\d{4}-\d{2}(?:-\d{2})?\b)
  | (?P<quarter>\b[QH][1-4]\b)
  | (?P<identifier>\b[A-Za-z]+[-_]?\d[\w-]*)
  | (?P<rank>(?:\#\s?\d+\b)|(?:\b\d+(?:st|nd|rd|th)\b))
  | (?<!\w)(?P<currency>[$€£¥]\s?)?
    (?P<number>\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?)
    (?:
        \s?(?P<percent>%|percent\b|per\ cent\b|pct\b)
      | (?:\s?(?P<scale>thousand|million|billion|mn|bn|[kmb])\b)?
        (?:\s?-?\s?(?P<unit>day|week|month|quarter|year)s?\b)?
    )
    """,
    re.VERBOSE | re.IGNORECASE,
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WORD = re.compile(r"[\w-]+")


@dataclass(frozen=True)
class Mention:
    """A number as written in prose, with the precision it was written at."""

    text: str
    kind: MentionKind
    value: Decimal  # as shown, without sign or scale: "$1.2M" -> 1.2
    decimals: int = 0
    scale: Decimal = Decimal(1)
    percent: bool = False
    unit: str | None = None  # "day", "week", "month", "quarter" or "year"


def find_mentions(text: str) -> list[Mention]:
    """Every number-bearing token of ``text``: numbers, ranks, dates, quarters, identifiers."""
    mentions = []
    for match in _MENTION.finditer(text):
        whole = match.group(0).strip()
        if match["date"]:
            mentions.append(Mention(whole, "date", Decimal(0)))
        elif match["quarter"]:
            mentions.append(Mention(whole.upper(), "quarter", Decimal(whole[1])))
        elif match["identifier"]:
            mentions.append(Mention(whole, "identifier", Decimal(0)))
        elif match["rank"]:
            mentions.append(Mention(whole, "rank", Decimal(re.sub(r"\D", "", whole))))
        else:
            digits = match["number"].replace(",", "")
            _, _, fraction = digits.partition(".")
            scale = (match["scale"] or "").lower()
            unit = (match["unit"] or "").lower()
            mentions.append(
                Mention(
                    text=whole,
                    kind="number",
                    value=Decimal(digits),
                    decimals=len(fraction),
                    scale=_SCALES.get(scale, Decimal(1)),
                    percent=match["percent"] is not None,
                    unit=unit or None,
                )
            )
    return mentions


@dataclass(frozen=True)
class Evidence:
    """What prose may mention: the numbers, words, dates and periods of its sources."""

    numbers: frozenset[Decimal]
    calendar: frozenset[Decimal]  # years, months and days of the dates
    words: frozenset[str]
    dates: tuple[str, ...]
    quarters: frozenset[str]
    longest_list: int
    spans: frozenset[tuple[int, str]]

    @classmethod
    def gather(cls, sources: Iterable[Any], context: Iterable[str] = ()) -> Evidence:
        """Evidence from JSON-safe ``sources`` (tool results and arguments) and ``context`` text.

        ``context`` is text the caller or the server wrote (the question, tool
        descriptions): its numbers count as given, e.g. "top 5" or "2024".
        """
        numbers: set[Decimal] = set()
        calendar: set[Decimal] = set()
        words: set[str] = set()
        dates: set[str] = set()
        lists = [0]
        spans: set[tuple[int, str]] = set()

        def add_text(text: str) -> None:
            words.update(word.lower() for word in _WORD.findall(text))
            for mention in find_mentions(text):
                if mention.kind == "date":
                    dates.add(mention.text)
                    calendar.update(Decimal(part) for part in mention.text.split("-"))
                elif mention.kind in ("number", "rank"):
                    numbers.add(mention.value * mention.scale)

        for source in sources:
            for value in _walk(source, lists, spans):
                if isinstance(value, str):
                    add_text(value)
                else:
                    numbers.add(abs(_decimal(value)))
        # "the top 5 customers" counts the rows a tool returned.
        numbers.update(Decimal(length) for length in lists[1:])
        for text in context:
            add_text(text)
        quarters = set()
        for date in dates:
            month = int(date[5:7])
            quarters.update({f"Q{(month - 1) // 3 + 1}", f"H{(month - 1) // 6 + 1}"})
        quarters.update(word.upper() for word in words if re.fullmatch(r"[qh][1-4]", word))
        return cls(
            frozenset(numbers),
            frozenset(calendar),
            frozenset(words),
            tuple(sorted(dates)),
            frozenset(quarters),
            max(lists),
            frozenset(spans),
        )

    def supports(self, mention: Mention) -> bool:
        if mention.kind == "date":
            return any(date.startswith(mention.text) for date in self.dates)
        if mention.kind == "quarter":
            return mention.text in self.quarters
        if mention.kind == "identifier":
            return mention.text.lower() in self.words
        if mention.kind == "rank":
            return (
                1 <= mention.value <= self.longest_list
                or mention.value in self.numbers
                or mention.value in self.calendar
            )
        plain = mention.decimals == 0 and mention.scale == 1 and not mention.percent
        if plain and mention.unit is not None and (int(mention.value), mention.unit) in self.spans:
            return True
        # A date's parts ground "2024" or "March 31" but never "12%" or "$12".
        if plain and mention.value in self.calendar:
            return True
        candidates: Iterable[Decimal] = self.numbers
        if mention.percent:
            candidates = [*self.numbers, *(number * 100 for number in self.numbers)]
        return any(_shows(number, mention) for number in candidates)


@dataclass(frozen=True)
class GroundingReport:
    """The mentions of a prose answer that no source supports (none: grounded)."""

    mentions: tuple[Mention, ...]
    unsupported: tuple[Mention, ...]

    @property
    def grounded(self) -> bool:
        return not self.unsupported


def check_grounding(
    prose: str, sources: Iterable[Any], context: Iterable[str] = ()
) -> GroundingReport:
    """Check every number in ``prose`` against ``sources`` and ``context``.

    Parameters
    ----------
    prose
        The model's answer.
    sources
        JSON-safe values the server computed or validated: tool results and
        the arguments the tools ran with. Strings count too (ISO dates,
        customer ids, names).
    context
        Text whose numbers the prose may repeat: the question, the
        descriptions of the tools used.

    Returns
    -------
    GroundingReport
        ``grounded`` when every number, rank, date, quarter and digit-bearing
        identifier in ``prose`` is supported. With no sources, any number is
        unsupported.
    """
    evidence = Evidence.gather(sources, context)
    mentions = tuple(find_mentions(prose))
    return GroundingReport(
        mentions, tuple(mention for mention in mentions if not evidence.supports(mention))
    )


def render_result(result: Mapping[str, Any], title: str | None = None, max_rows: int = 10) -> str:
    """A tool result as plain ``Label: value`` lines, every number copied from ``result``."""
    lines = [] if title is None else [title]
    for key, value in result.items():
        if isinstance(value, Mapping):
            lines.append(f"{_label(key)}: {_inline(value)}")
        elif isinstance(value, list | tuple):
            lines.append(f"{_label(key)}:")
            lines.extend(f"- {_inline(item)}" for item in value[:max_rows])
            if len(value) > max_rows:
                lines.append("- ... (more in the data)")
        else:
            lines.append(f"{_label(key)}: {_scalar(value)}")
    return "\n".join(lines)


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        if set(value) == {"start", "end"}:
            return f"{_scalar(value['start'])} to {_scalar(value['end'])}"
        texts = [_scalar(v) for v in value.values() if isinstance(v, str)]
        others = [
            f"{_label(k).lower()} {_inline(v)}" for k, v in value.items() if not isinstance(v, str)
        ]
        head = " - ".join(texts)
        return f"{head}: {', '.join(others)}" if head and others else head or ", ".join(others)
    if isinstance(value, list | tuple):
        return ", ".join(_inline(item) for item in value)
    return _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        exponent = _decimal(value).as_tuple().exponent
        decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        return f"{value:,.{min(decimals, 6)}f}"
    return str(value)


def _label(key: str) -> str:
    text = key.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _shows(number: Decimal, mention: Mention) -> bool:
    """Whether ``mention`` is ``number`` written at the mention's precision."""
    shown = mention.value
    scaled = number / mention.scale
    quantum = Decimal(1).scaleb(-mention.decimals)
    for rounding in (ROUND_HALF_UP, ROUND_HALF_EVEN, ROUND_DOWN):
        if scaled.quantize(quantum, rounding=rounding) == shown:
            return True
    # "about 1,200" for 1,234: the trailing zeros of a large whole number are a
    # rounding too, when two significant digits remain to be checked. Small
    # numbers (counts like "870 orders") must be exact at the shown precision.
    if mention.decimals == 0 and shown * mention.scale >= 1000:
        digits = str(int(shown))
        zeros = len(digits) - len(digits.rstrip("0"))
        if zeros and len(digits) - zeros >= 2:
            step = Decimal(1).scaleb(zeros)
            return (scaled / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step == shown
    return False


def _decimal(value: int | float) -> Decimal:
    try:
        return Decimal(repr(value))
    except InvalidOperation:  # nan or inf: supports nothing
        return Decimal(-1)


def _walk(value: Any, lists: list[int], spans: set[tuple[int, str]]) -> Iterator[str | int | float]:
    """The scalars of a JSON-safe value; records list lengths and the spans of periods."""
    if isinstance(value, Mapping):
        _add_span(value, spans)
        for item in value.values():
            yield from _walk(item, lists, spans)
    elif isinstance(value, list | tuple):
        lists.append(len(value))
        for item in value:
            yield from _walk(item, lists, spans)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield value


def _add_span(value: Mapping[str, Any], spans: set[tuple[int, str]]) -> None:
    """A ``{start, end}`` period's length in whole days, weeks, months, quarters, years."""
    start, end = value.get("start"), value.get("end")
    if not (isinstance(start, str) and isinstance(end, str)):
        return
    if not (_ISO_DATE.match(start) and _ISO_DATE.match(end)):
        return
    try:
        days = (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days + 1
    except ValueError:
        return
    for unit, length in _DAYS_PER_UNIT.items():
        count = round(days / length)
        if count >= 1 and abs(days - count * length) <= max(1.0, 0.05 * days):
            spans.add((count, unit))
