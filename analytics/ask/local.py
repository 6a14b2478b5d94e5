"""The local askAI provider: no key, no network, no model writing anything.

A question is routed to one tool by text similarity, its arguments are read
from its words (:mod:`analytics.ask.slots`), the tool runs on the caller's
dataset and a template turns the result into a sentence. Every number in the
answer is a value of the tool's result.

Routing: the question's periods, counts, ids, categories and regions are
masked ("revenue in March" -> "revenue in period"), a synonym table maps
everyday words onto the catalogue's vocabulary ("turnover" -> "revenue",
"clients" -> "customers") and filler words are dropped; the result is
compared with every tool's example phrasings by TF-IDF cosine similarity
over word 1-2-grams and character 2-4-grams (see :class:`Router` for how
subjects, unknown words and off-topic questions weigh in). A tool scores
its best example's similarity; below ``CONFIDENCE_THRESHOLD`` the provider
says it could not match the question and suggests ones it can answer.

Follow-ups: with the previous turn, a short question led by "and", "what
about"... (or naming "that"), one that moves the period ("the month
before"), or one that matches nothing but names a period, region, count...
reuses the previous tool and arguments and changes only what it says.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from analytics.ask.grounding import render_result
from analytics.ask.providers import ProviderAnswer, Turn
from analytics.ask.slots import (
    UNIT_DAYS,
    Slots,
    Vocabulary,
    calendar_unit,
    extract_slots,
    shift_period,
)
from analytics.ask.toolbox import Tool, Toolbox, ToolCall
from analytics.ask.tools import CATALOGUE, KPI_METRICS
from analytics.demo import CATEGORIES, REGIONS
from analytics.periods import DateRange, window_ending
from analytics.sales import Granularity

# Calibrated on the phrasings of tests/analytics/test_ask_local.py: each of the
# 177 everyday questions there scores at least 0.41 for its tool, and none of
# the questions about something else ("what is the weather", "write me a poem
# about sales", "ignore previous instructions...") more than 0.30.
CONFIDENCE_THRESHOLD = 0.35
# A follow-up is a short question ("and the month before?").
FOLLOW_UP_WORDS = 10
# Offered when a question matches nothing: the ones closest to it first.
SUGGESTIONS = (
    "What was revenue last month?",
    "Who are our top 5 customers?",
    "Which sales rep closed the most deals?",
    "How many customers are at risk of churning?",
    "What's our AOV this year vs last year?",
    "Forecast revenue for the next 3 months",
    "Which product category sells best?",
    "Show revenue by month",
    "Which region brings in the most revenue?",
    "What are our best selling products?",
    "How many customers are champions?",
    "What is the predicted customer lifetime value?",
    "How satisfied are our customers?",
)
MAX_SUGGESTIONS = 5
NO_MATCH = (
    "I could not match that question to one of the analyses I can run, so I have not answered it."
)
READ_ONLY = "I only read this dataset's analytics; I cannot change, delete or send anything."


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Everyday words -> the catalogue's words; multi-word phrases first.
SYNONYMS: tuple[tuple[str, str], ...] = (
    (r"\b(best[- ]?sellers?|best[- ]selling|top[- ]selling|items?|skus?|articles?|products?)\b",
     " products "),
    (r"\b(sales ?people|sales ?persons?|sales ?representatives?|sales ?reps?|sales ?team|"
     r"account ?managers?|sellers?|reps?|representatives?|leaderboard)\b", " salesrep "),
    (r"\b(aov|average order values?|avg\.? order values?|average basket|basket size|"
     r"average ticket|average sale|average spend per order|order values?|(typical|average) "
     r"order size|order size)\b",
     " averageordervalue "),
    (r"\b(customer lifetime value|lifetime values?|clv|ltv|cltv|worth|future value|"
     r"(customer|client) values?)\b", " lifetimevalue "),
    (r"\b(retention|retain\w*|came back|come back|comes back|returning|repeat customers)\b",
     " retention "),
    (r"\b(turnover|income|takings|earnings|gross sales|sales|sold|sells?|selling|money|"
     r"revenues)\b", " revenue "),
    (r"\b(clients?|buyers?|shoppers?|purchasers?|accounts?|consumers?)\b", " customers "),
    (r"\bcustomer\b", " customers "),
    (r"\b(deals?|transactions?|purchases?|orders?)\b", " orders "),
    (r"\b(churn\w*|attrition|leav\w*|lapse\w*|defect\w*|stop buying|quit\w*|lose|losing)\b",
     " churn "),
    (r"\b(spend|spent|spending|spenders?)\b", " spent "),
    (r"\bnumber one\b", " top "),
    (r"\b(up|down|going up|going down|grow\w*|growth|increas\w*|decreas\w*|declin\w*|rising|"
     r"falling|improv\w*)\b", " growth "),
    (r"\b(trend\w*|over time|evolv\w*|history|historical)\b", " trend "),
    (r"\b(all[- ]time|overall|in total|grand total)\b", " total "),
    (r"\b(forecasts?|predict\w*|projections?|project|outlook|expect\w*)\b", " forecast "),
    (r"\b(product categor(y|ies)|categories|departments?|product lines?)\b", " category "),
    (r"\b(rfm|segments|segmentation)\b", " segment "),
    (r"\b(territor(y|ies)|areas?|regions|geograph\w*)\b", " region "),
    (r"\b(vs\.?|versus|compared?|comparison|against|yoy|qoq|mom|more than|less than|"
     r"fewer than|higher than|lower than)\b", " compare "),
    (r"\b(satisf\w*|happy|happiness|ratings?|rated|rate (us|our \w+)|nps|csat)\b",
     " satisfaction "),
)  # fmt: skip
# A question names at least one of these (after the synonyms) or is not about the data.
DOMAIN_WORDS = _words(
    "revenue orders customers averageordervalue retention lifetimevalue churn forecast "
    "category categoryname segment segmentname region regionname salesrep products "
    "satisfaction customerid granularity compare kpis kpi headline performance performing "
    "trend growth value valuable spent bought buy champions hibernating loyal"
)
# Words every kind of question has: they would make any two questions look alike.
FILLER = _words(
    "a an the of in on at to for from by with and or is are was were be been being do does "
    "did done it its it's this that these those there their they our we us i me my you "
    "your what what's whats please can could would should show give tell list get see let "
    "know about any some"
)
# Every tool reads; a request to change something is not a question they answer.
_WRITE = re.compile(
    r"^\W*(?:please\s+)?(?:update|delete|drop|insert|remove|modify|rename|send|email|cancel|"
    r"refund|truncate|alter|grant|overwrite|erase|purge)\b",
    re.IGNORECASE,
)
_CUE = re.compile(
    r"^\s*(?:and|also|plus|now|then|ok(?:ay)?,?\s*(?:and|what about)?|what about|how about|"
    r"what of|same for|and what about|and how about|and for|for)\b",
    re.IGNORECASE,
)
# "How does that compare...": a short question about the previous answer.
_REFERENCE = re.compile(r"\b(that|it|those|these|them)\b", re.IGNORECASE)
# Words (besides FILLER) that only carry slots or the follow-up itself, never a subject.
_SLOT_WORDS = _words(
    "also plus now then ok okay how same one ones instead again only just top before after "
    "earlier later previous prior day week month quarter year days weeks months quarters "
    "years last next ago period shift horizon granularity customerid categoryname "
    "regionname segmentname region category segment"
)
# A follow-up naming only these changes the metric, not the tool ("what about orders?").
_METRIC_WORDS = _words(
    "revenue orders averageordervalue retention active customers lifetimevalue total number "
    "many much rate"
)

# The catalogue's examples are phrased against the demo store.
_EXAMPLE_AS_OF = dt.date(2026, 1, 1)


def normalize(text: str) -> str:
    """``text`` lowercased, with the synonym table applied and filler words dropped."""
    text = text.lower()
    for pattern, replacement in SYNONYMS:
        text = re.sub(pattern, replacement, text)
    return " ".join(word for word in re.findall(r"[\w']+", text) if word not in FILLER)


# Words that name what a question is about; two phrasings agree on their subject
# when they name the same ones ("which region..." is not "which category...").
SUBJECTS = {
    "region": "region", "regionname": "region", "category": "category",
    "categoryname": "category", "segment": "segment", "segmentname": "segment",
    "salesrep": "salesrep", "products": "products", "churn": "churn", "forecast": "forecast",
    "horizon": "horizon", "lifetimevalue": "lifetimevalue", "satisfaction": "satisfaction",
    "customerid": "customerid", "granularity": "granularity", "compare": "compare",
}  # fmt: skip
# How much each TF-IDF similarity counts (word n-grams, character n-grams), and
# the share of it lost when the subjects of two phrasings disagree.
WEIGHTS = (0.5, 0.5)
SUBJECT_PENALTY = 0.5
# The share lost as the question's words are ones no example uses ("poem", "weather").
UNKNOWN_PENALTY = 0.5
# The share lost by a question that names nothing the data has (no DOMAIN_WORDS).
OFF_TOPIC_PENALTY = 0.5


def subjects(text: str) -> frozenset[str]:
    """The subject words of a normalized text."""
    return frozenset(SUBJECTS[word] for word in text.split() if word in SUBJECTS)


class Router:
    """Similarity of a question to each tool's example phrasings, fitted once.

    The similarity to one example is a weighted mean (``WEIGHTS``) of the
    TF-IDF cosines over word 1-2-grams and character 2-4-grams, reduced by up
    to ``SUBJECT_PENALTY`` as their subject words disagree (the cosine of the
    two sets; they agree when neither has any). A tool scores its best
    example's similarity.
    """

    def __init__(self, tools: Mapping[str, Tool]) -> None:
        examples = [(name, example) for name, tool in tools.items() for example in tool.examples]
        ids = {token for _, text in examples for token in re.findall(r"\b[A-Z]\d{6}\b", text)}
        self.vocabulary = vocabulary = Vocabulary(
            as_of=_EXAMPLE_AS_OF,
            customer_ids=frozenset(ids),
            categories=tuple(name for name, *_ in CATEGORIES),
            regions=tuple(REGIONS),
        )
        documents = [normalize(extract_slots(text, vocabulary).masked) for _, text in examples]
        self.labels = [name for name, _ in examples]
        self.subjects = [subjects(document) for document in documents]
        self.word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
        self.word_matrix = self.word.fit_transform(documents)
        self.known = frozenset(word for document in documents for word in document.split())
        self.char_matrix = self.char.fit_transform(documents)

    def scores(self, text: str) -> dict[str, float]:
        """Each tool's best example similarity (0..1) to the normalized, masked ``text``."""
        word = (self.word_matrix @ self.word.transform([text]).T).toarray().ravel()
        char = (self.char_matrix @ self.char.transform([text]).T).toarray().ravel()
        asked = subjects(text)
        agreement = np.array([_agreement(asked, said) for said in self.subjects])
        w_word, w_char = WEIGHTS
        similarity = (w_word * word + w_char * char) * (1 - SUBJECT_PENALTY * (1 - agreement))
        words = text.split()
        known = sum(word in self.known for word in words) / len(words) if words else 0.0
        similarity *= 1 - UNKNOWN_PENALTY * (1 - known)
        if not DOMAIN_WORDS.intersection(words):
            similarity *= 1 - OFF_TOPIC_PENALTY
        best: dict[str, float] = {}
        for label, value in zip(self.labels, similarity, strict=True):
            best[label] = max(best.get(label, 0.0), float(value))
        return best


def _agreement(asked: frozenset[str], said: frozenset[str]) -> float:
    if not asked and not said:
        return 1.0
    if not asked or not said:
        return 0.0
    return len(asked & said) / math.sqrt(len(asked) * len(said))


@dataclass(frozen=True)
class Plan:
    """What to run and how to phrase it: the tool, its arguments, the slots to render with."""

    tool: str
    arguments: dict[str, Any]
    slots: Slots


class LocalProvider:
    """Answers with one tool chosen by text similarity; see the module docstring.

    Parameters
    ----------
    tools : mapping of str to Tool, default the whole catalogue
        What questions may be routed to (only those also in the toolbox are).
    threshold : float, default ``CONFIDENCE_THRESHOLD``
        The least similarity that counts as a match.
    """

    name = "local"

    def __init__(
        self, tools: Mapping[str, Tool] | None = None, threshold: float = CONFIDENCE_THRESHOLD
    ) -> None:
        self.tools = dict(CATALOGUE if tools is None else tools)
        self.threshold = threshold
        self.router = Router(self.tools)
        # The tool each suggestion goes to, to offer those nearest a question first.
        example = self.router.vocabulary
        self._suggested = {
            suggestion: max(scores, key=lambda name: scores[name])
            for suggestion in SUGGESTIONS
            if (scores := self.router.scores(normalize(extract_slots(suggestion, example).masked)))
        }

    def route(self, question: str, vocabulary: Vocabulary) -> list[tuple[str, float]]:
        """Tools by similarity to ``question``, best first."""
        slots = extract_slots(question, vocabulary)
        scores = self.router.scores(normalize(slots.masked))
        return sorted(scores.items(), key=lambda item: -item[1])

    def answer(self, question: str, toolbox: Toolbox, previous: Turn | None) -> ProviderAnswer:
        """Answer ``question`` with one call on ``toolbox``, or say it cannot.

        Errors of the tool (an unknown customer: NOT_FOUND; too little
        history for a forecast) propagate as the tool raised them.
        """
        vocabulary = toolbox.scope.compute(("ask", "vocabulary"), Vocabulary.from_frames)
        slots = extract_slots(question, vocabulary)
        available = [name for name in self.tools if name in toolbox.tools]
        all_scores = self.router.scores(normalize(slots.masked))
        scores = {name: all_scores.get(name, 0.0) for name in available}
        plan = self.plan(question, slots, scores, previous, vocabulary)
        if plan is None:
            reason = READ_ONLY if _WRITE.match(question) else NO_MATCH
            return self._unsure(scores, reason)
        if plan.tool == "customer_report" and "customer_id" not in plan.arguments:
            return self._which_customer(vocabulary)
        call = toolbox.call(plan.tool, plan.arguments)
        text = RENDERERS.get(plan.tool, _render_generic)(call, plan.slots)
        return ProviderAnswer(
            answer=f"{text} Source: {plan.tool}.",
            provider=self.name,
            model=None,
            usage=None,
            data=call.result,
            figure=call.figure,
        )

    def plan(
        self,
        question: str,
        slots: Slots,
        scores: Mapping[str, float],
        previous: Turn | None,
        vocabulary: Vocabulary,
    ) -> Plan | None:
        """The tool and arguments for ``question``, or ``None`` when nothing matches."""
        if _WRITE.match(question):
            return None
        best = max(scores, key=lambda name: scores[name], default=None)
        score = scores.get(best, 0.0) if best else 0.0
        if previous is not None and self._follows(question, slots, score, previous, scores):
            return self._follow_up(slots, scores, previous, vocabulary)
        if best is None or score < self.threshold:
            return None
        tool = _switch_for_slots(best, slots, self.tools, scores)
        return Plan(tool, build_arguments(tool, slots, vocabulary), slots)

    def _follows(
        self,
        question: str,
        slots: Slots,
        score: float,
        previous: Turn,
        scores: Mapping[str, float],
    ) -> bool:
        if previous.tool is None or previous.tool not in scores:
            return False
        if slots.shift is not None:
            return True
        short = len(question.split()) <= FOLLOW_UP_WORDS
        if short and (_CUE.match(question) or _REFERENCE.search(question)):
            return True
        return score < self.threshold and _has_updates(slots)

    def _follow_up(
        self,
        slots: Slots,
        scores: Mapping[str, float],
        previous: Turn,
        vocabulary: Vocabulary,
    ) -> Plan:
        """``previous``'s tool and arguments, updated by what ``slots`` say.

        A follow-up that names a subject of its own ("and what about
        churn?") goes to that subject's tool, keeping the period.
        """
        before = extract_slots(previous.question, vocabulary)
        content = _content_words(slots)
        best = max(scores, key=lambda name: scores[name])
        tool = str(previous.tool)
        if content and not content <= _METRIC_WORDS and scores[best] >= self.threshold:
            tool = best
        tool = _switch_for_slots(tool, slots, self.tools, scores)
        schema = self.tools[tool].parameters["properties"]
        base = {key: value for key, value in previous.arguments.items() if key in schema}
        if tool != previous.tool:
            base = {k: v for k, v in base.items() if k in ("start", "end", "region", "category")}
        if tool == "compare_kpis" and previous.tool != tool and len(slots.mentions) <= 1:
            # "and compared to last year?" compares the period just asked about.
            arguments = _compare_arguments(
                _merge_focus(before, slots),
                vocabulary,
                follow_up=False,
                asked=_period_of(previous.arguments, "start", "end"),
            )
            return Plan(tool, arguments, slots)
        arguments = {**base, **build_arguments(tool, slots, vocabulary, follow_up=True)}
        _apply_period(tool, arguments, slots, previous, vocabulary)
        return Plan(tool, arguments, _merge_focus(before, slots))

    def _unsure(self, scores: Mapping[str, float], reason: str) -> ProviderAnswer:
        closest = sorted(
            (s for s in SUGGESTIONS if self._suggested[s] in scores),
            key=lambda suggestion: -scores[self._suggested[suggestion]],
        )
        suggestions = tuple(closest[:MAX_SUGGESTIONS])
        return ProviderAnswer(
            answer=f"{reason} I can answer questions like: " + "; ".join(suggestions) + ".",
            provider=self.name,
            model=None,
            usage=None,
            data=None,
            figure=None,
            confident=False,
            suggestions=suggestions,
        )

    def _which_customer(self, vocabulary: Vocabulary) -> ProviderAnswer:
        example = min(vocabulary.customer_ids, default=None)
        suggestion = (
            f"Tell me about customer {example}" if example else "Who are our top customers?"
        )
        return ProviderAnswer(
            answer=(
                "Which customer do you mean? Ask again with the customer's id as it appears "
                f'in your data, e.g. "{suggestion}".'
            ),
            provider=self.name,
            model=None,
            usage=None,
            data=None,
            figure=None,
            confident=False,
            suggestions=(suggestion,),
        )


# --- Arguments ---------------------------------------------------------------


def build_arguments(
    tool: str, slots: Slots, vocabulary: Vocabulary, *, follow_up: bool = False
) -> dict[str, Any]:
    """The arguments ``slots`` give ``tool``; only what the question said (plus defaults)."""
    arguments: dict[str, Any] = {}
    period = slots.period
    if follow_up and slots.mentions and all(m.kind == "previous" for m in slots.mentions):
        period = None  # "the previous month" of a follow-up moves the previous period
    if tool == "compare_kpis":
        return _compare_arguments(slots, vocabulary, follow_up)
    if period is not None and tool in _PERIOD_TOOLS:
        arguments.update(start=period.start.isoformat(), end=period.end.isoformat())
    count = slots.count
    if tool == "revenue_series":
        granularity = slots.granularity
        if granularity is None and not follow_up:
            short = period is not None and period.days <= 31
            granularity = Granularity.DAY if short else Granularity.MONTH
        if granularity is not None:
            arguments["granularity"] = granularity.value
    elif tool == "top_customers":
        if count is not None:
            arguments["limit"] = _clamp(count, 50)
        if slots.customer_metric is not None or not follow_up:
            arguments["metric"] = slots.customer_metric or "lifetime_value"
    elif tool == "customer_report":
        customer = slots.customer_id or slots.unknown_customer_id
        if customer is not None:
            arguments["customer_id"] = customer
    elif tool == "category_performance":
        if count is not None:
            arguments["limit"] = _clamp(count, 20)
        if slots.category is not None:
            arguments["category"] = slots.category
    elif tool == "sales_rep_performance":
        if count is not None:
            arguments["limit"] = _clamp(count, 20)
        if slots.rep_metric is not None or not follow_up:
            arguments["metric"] = slots.rep_metric or "revenue"
        if slots.region is not None:
            arguments["region"] = slots.region
    elif tool == "region_performance":
        if slots.region is not None:
            arguments["region"] = slots.region
    elif tool == "top_products":
        if count is not None:
            arguments["limit"] = _clamp(count, 50)
    elif tool == "rfm_segments":
        if slots.segment is not None:
            arguments["segment"] = slots.segment
    elif tool == "churn_summary":
        if count is not None:
            arguments["limit"] = _clamp(count, 10)
    elif tool == "sales_forecast":
        arguments.update(_forecast_arguments(slots, follow_up))
    elif tool == "lifetime_value" and slots.horizon is not None:
        number, unit = slots.horizon
        arguments["horizon_months"] = _clamp(round(number * UNIT_DAYS[unit] / 30.44), 60)
    return arguments


_PERIOD_TOOLS = {
    "get_kpis", "revenue_series", "category_performance", "sales_rep_performance",
    "region_performance", "top_products",
}  # fmt: skip
_FORECAST_UNITS = {"week": Granularity.WEEK, "month": Granularity.MONTH,
                   "quarter": Granularity.QUARTER}  # fmt: skip


def _clamp(value: int, maximum: int) -> int:
    return max(1, min(maximum, value))


def _forecast_arguments(slots: Slots, follow_up: bool) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    granularity = slots.granularity if slots.granularity in _FORECAST_UNITS.values() else None
    if slots.horizon is not None:
        number, unit = slots.horizon
        if granularity is None:
            granularity = _FORECAST_UNITS.get(unit)
        if granularity is None:
            granularity = (
                Granularity.MONTH
                if number * UNIT_DAYS[unit] <= 366
                else (Granularity.QUARTER if unit == "year" else Granularity.WEEK)
            )
        days = {Granularity.WEEK: 7.0, Granularity.MONTH: 30.44, Granularity.QUARTER: 91.31}
        periods = math.ceil(number * UNIT_DAYS[unit] / days[granularity] - 0.05)
        arguments["horizon"] = _clamp(periods, 12)
    if granularity is not None:
        arguments["granularity"] = granularity.value
    elif not follow_up:
        arguments["granularity"] = Granularity.MONTH.value
    return arguments


def _compare_arguments(
    slots: Slots, vocabulary: Vocabulary, follow_up: bool, asked: DateRange | None = None
) -> dict[str, Any]:
    """The two periods to compare: both named, one named and the one before, or defaults.

    ``asked`` is the period of the question a follow-up compares ("and
    compared to last year?"): the period named becomes its baseline, moved by
    a year rather than replaced when it is a longer unit than ``asked``.
    """
    arguments: dict[str, Any] = {}
    if slots.kpi_metric in KPI_METRICS:
        arguments["metric"] = slots.kpi_metric
    elif not follow_up:
        arguments["metric"] = "revenue"
    mentions = [m for m in slots.mentions if not (follow_up and m.kind == "previous")]
    if asked is not None:
        current = asked
        named = mentions[0] if mentions else None
        longer = named is not None and named.unit and UNIT_DAYS[named.unit] > 1.1 * asked.days
        if named is not None and (named.kind == "previous" or longer):
            baseline = shift_period(asked, named.unit, -1)
        elif named is not None:
            baseline = named.period
        else:
            unit = slots.shift.unit if slots.shift else slots.compare_unit
            baseline = shift_period(asked, unit, -1)
    elif len(mentions) >= 2:
        first, second = sorted(mentions[:2], key=lambda m: m.period.start)
        current, baseline = second.period, first.period
    elif mentions and mentions[0].baseline:
        # "Is AOV higher than last year?": the named period is the baseline, the one
        # running now (or else the next) is compared with it.
        baseline, unit = mentions[0].period, mentions[0].unit
        today = vocabulary.today
        if unit in ("month", "quarter", "year") and baseline.end < today:
            current = DateRange(calendar_unit(today, unit).start, today)
        else:
            current = shift_period(baseline, unit, 1)
    elif mentions:
        current = mentions[0].period
        if slots.shift is not None:
            baseline = shift_period(current, slots.shift.unit, slots.shift.steps)
        elif slots.compare_unit is not None:
            baseline = shift_period(current, slots.compare_unit, -1)
        else:
            baseline = shift_period(current, mentions[0].unit, -1)
    elif follow_up:
        return arguments
    else:
        # "Quarter over quarter": the running quarter against the one before; else the
        # year to date against the same days a year earlier.
        today = vocabulary.today
        unit = slots.compare_unit or "year"
        start = calendar_unit(today, unit).start
        current = DateRange(start, today)
        baseline = shift_period(current, unit, -1)
    arguments.update(
        start=current.start.isoformat(),
        end=current.end.isoformat(),
        compare_start=baseline.start.isoformat(),
        compare_end=baseline.end.isoformat(),
    )
    return arguments


def _apply_period(
    tool: str, arguments: dict[str, Any], slots: Slots, previous: Turn, vocabulary: Vocabulary
) -> None:
    """Move the previous period for "the month before", "the previous one", "a year earlier"."""
    shift = slots.shift
    previous_mentions = [m for m in slots.mentions if m.kind == "previous"]
    if shift is None and previous_mentions and len(previous_mentions) == len(slots.mentions):
        unit, steps = previous_mentions[0].unit, -1
    elif shift is not None and not [m for m in slots.mentions if m.kind != "previous"]:
        unit, steps = shift.unit, shift.steps
    else:
        return
    keys = [("start", "end")]
    if tool == "compare_kpis":
        keys.append(("compare_start", "compare_end"))
    for start_key, end_key in keys:
        period = _period_of(previous.arguments, start_key, end_key)
        if period is None and start_key == "start" and tool in _PERIOD_TOOLS | {"compare_kpis"}:
            period = window_ending(vocabulary.as_of)
        if period is None:
            continue
        moved = shift_period(period, unit, steps)
        arguments[start_key], arguments[end_key] = moved.start.isoformat(), moved.end.isoformat()


def _period_of(arguments: Mapping[str, Any], start_key: str, end_key: str) -> DateRange | None:
    try:
        return DateRange(
            dt.date.fromisoformat(arguments[start_key]), dt.date.fromisoformat(arguments[end_key])
        )
    except (KeyError, TypeError, ValueError):
        return None


# A question naming a region, category, customer or bucket size that its tool
# cannot take goes to the tool that can: (slot, the tool, tools it replaces).
_SWITCHES = (
    ("region", "region_performance", {"get_kpis", "revenue_series", "top_products"}),
    ("category", "category_performance", {"get_kpis", "revenue_series", "top_products"}),
    ("customer_id", "customer_report", {"get_kpis", "top_customers"}),
    ("granularity", "revenue_series", {"get_kpis"}),
)


def _switch_for_slots(
    tool: str, slots: Slots, tools: Mapping[str, Tool], scores: Mapping[str, float]
) -> str:
    """A tool that can take what the question names, when ``tool`` cannot."""
    for slot, other, replaced in _SWITCHES:
        if getattr(slots, slot) is not None and tool in replaced and other in scores:
            return other
    return tool


def _has_updates(slots: Slots) -> bool:
    return any(
        value is not None
        for value in (slots.period, slots.shift, slots.count, slots.region, slots.category,
                      slots.segment, slots.horizon, slots.granularity, slots.customer_id)
    )  # fmt: skip


def _content_words(slots: Slots) -> set[str]:
    words = set(re.findall(r"[a-z]+", normalize(slots.masked)))
    return {word for word in words if word not in _SLOT_WORDS}


def _merge_focus(before: Slots, now: Slots) -> Slots:
    """The new question's slots, with what to dwell on carried over from the previous one."""
    return replace(
        now,
        kpi_metric=now.kpi_metric or before.kpi_metric,
        rep_metric=now.rep_metric or before.rep_metric,
        customer_metric=now.customer_metric or before.customer_metric,
        lowest=now.lowest or before.lowest,
        granularity=now.granularity or before.granularity,
    )


# --- Answers -------------------------------------------------------------------


def _money(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _count(value: Any) -> str:
    return "n/a" if value is None else f"{value:,}"


def _orders(value: Any) -> str:
    return f"{_count(value)} order" + ("" if value == 1 else "s")


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _span(period: Mapping[str, Any] | None, default: str = "across all data") -> str:
    if not period:
        return default
    if period["start"] == period["end"]:
        return f"on {period['start']}"
    return f"from {period['start']} to {period['end']}"


def _who(row: Mapping[str, Any]) -> str:
    name = row.get("name")
    return f"{row['customer_id']} {name}" if name else str(row["customer_id"])


def _render_kpis(call: ToolCall, slots: Slots) -> str:
    data = call.result
    period = data["period"]
    span = _span(period) if period else f"to date (all orders before {data['as_of']})"
    window = _span(data["activity_window"])
    revenue, orders, aov = data["total_revenue"], data["order_count"], data["average_order_value"]
    focus = slots.kpi_metric or "revenue"
    if focus == "orders":
        return f"There were {_orders(orders)} {span}, worth {_money(revenue)} in revenue."
    if focus == "average_order_value":
        if aov is None:
            return f"There were no orders {span}, so there is no average order value."
        return (
            f"The average order value {span} was {_money(aov)} "
            f"({_money(revenue)} of revenue over {_orders(orders)})."
        )
    if focus == "active_customers":
        return f"{_count(data['active_customers'])} customers placed at least one order {window}."
    if focus == "retention_rate":
        if data["retention_rate"] is None:
            return f"No customer ordered {_span(data['previous_window'])}, so retention is unknown."
        return (
            f"The retention rate {window} was {_pct(data['retention_rate'])}: the share of the "
            f"customers who ordered {_span(data['previous_window'])} who ordered again."
        )
    if focus == "total_customers":
        by = f" by {period['end']}" if period else ""
        return f"The dataset has {_count(data['total_customers'])} customers{by}."
    if focus == "lifetime_value":
        return f"Total lifetime value (revenue to date) is {_money(data['total_lifetime_value'])}."
    head = "Total revenue" if not period else "Revenue"
    text = f"{head} {span} was {_money(revenue)} over {_orders(orders)}"
    return text + (f" (average order value {_money(aov)})." if aov is not None else ".")


_METRIC_LABELS = {
    "revenue": "Revenue was",
    "orders": "Orders were",
    "average_order_value": "Average order value was",
    "active_customers": "Active customers were",
    "retention_rate": "The retention rate was",
}


def _render_compare(call: ToolCall, slots: Slots) -> str:
    data = call.result
    metric = data["metric"]
    shown: Callable[[Any], str] = _count
    if metric in ("revenue", "average_order_value"):
        shown = _money
    elif metric == "retention_rate":
        shown = _pct
    current, baseline = data["current"], data["baseline"]
    text = (
        f"{_METRIC_LABELS[metric]} {shown(current['value'])} {_span(current)} versus "
        f"{shown(baseline['value'])} {_span(baseline)}"
    )
    difference, change = data["difference"], data["percent_change"]
    if difference is None:
        return text + "."
    signed = f"{difference:+,.2f}" if isinstance(difference, float) else f"{difference:+,}"
    if metric == "retention_rate":
        signed = f"{difference:+.1f} points"
    text += f": a change of {signed}"
    return text + (f" ({change:+.1f}%)." if change is not None else ".")


def _render_series(call: ToolCall, slots: Slots) -> str:
    data = call.result
    unit = data["granularity"].lower()
    if not data["buckets"]:
        return f"There was no revenue {_span(data['period'])}."
    text = (
        f"Revenue by {unit} {_span(data['period'])} totalled {_money(data['total_revenue'])} "
        f"over {_orders(data['total_orders'])}."
    )
    highest, lowest, latest = data["highest"], data["lowest"], data["points"][-1]

    def bucket(point: Mapping[str, Any]) -> str:
        start = (
            point["period_start"] if unit == "day" else f"the {unit} from {point['period_start']}"
        )
        return f"{start} ({_money(point['revenue'])})"

    high, low = f"the highest was {bucket(highest)}", f"the lowest was {bucket(lowest)}"
    first, second = (low, high) if slots.lowest else (high, low)
    return f"{text} {first[0].upper()}{first[1:]}; {second}; the latest was {bucket(latest)}."


def _render_top_customers(call: ToolCall, slots: Slots) -> str:
    data = call.result
    if not data["customers"]:
        return "No customer has placed an order yet."
    by = "orders" if data["metric"] == "orders" else "lifetime value (revenue to date)"
    rows = "; ".join(
        f"{_who(row)} ({_money(row['lifetime_value'])}, {_orders(row['order_count'])})"
        for row in data["customers"]
    )
    return f"Top {_count(data['count'])} customers by {by}: {rows}."


def _render_report(call: ToolCall, slots: Slots) -> str:
    data = call.result
    who = data["customer_id"] + (f" ({data['name']})" if data["name"] else "")
    if not data["order_count"]:
        return f"Customer {who} has not placed any order."
    text = (
        f"Customer {who} has a lifetime value of {_money(data['lifetime_value'])} over "
        f"{_orders(data['order_count'])} (average order value "
        f"{_money(data['average_order_value'])}); first order {data['first_order_date']}, "
        f"last order {data['last_order_date']}"
    )
    if data["days_since_last_order"] is not None:
        text += f", {_count(data['days_since_last_order'])} days before {data['as_of']}"
    text += "."
    favourite = next(iter(data["favourite_categories"]), None)
    if favourite:
        text += (
            f" Favourite category: {favourite['category']} ({_money(favourite['revenue'])}, "
            f"{_pct(favourite['share_pct'])} of spend)."
        )
    return text


def _render_categories(call: ToolCall, slots: Slots) -> str:
    data = call.result
    span = _span(data["period"])
    if not data["category_count"]:
        return f"There were no sales {span}."
    selected = data["selected"]
    if selected is not None:
        return (
            f"{selected['category']} ranked {selected['rank']} of {data['category_count']} "
            f"categories {span} with {_money(selected['revenue'])} of revenue "
            f"({_pct(selected['revenue_share_pct'])} of {_money(data['total_revenue'])}) over "
            f"{_orders(selected['orders'])}."
        )
    if slots.lowest:
        row = data["lowest"]
        return (
            f"The lowest-selling category {span} was {row['category']} with "
            f"{_money(row['revenue'])} ({_pct(row['revenue_share_pct'])} of revenue)."
        )
    rows = "; ".join(_revenue_share(row, "category") for row in data["categories"])
    return f"Categories by revenue {span}: {rows}. Total revenue {_money(data['total_revenue'])}."


def _revenue_share(row: Mapping[str, Any], name: str) -> str:
    """'North 1,234.00 (12.5%)': a group's revenue and its share of the total."""
    return f"{row[name]} {_money(row['revenue'])} ({_pct(row['revenue_share_pct'])})"


def _render_reps(call: ToolCall, slots: Slots) -> str:
    data = call.result
    span = _span(data["period"])
    where = f" in {data['region']}" if data["region"] else ""
    if not data["reps"]:
        return f"There are no sales reps{where}."
    closed = data["metric"] == "orders_closed"

    def line(row: Mapping[str, Any]) -> str:
        region = f" ({row['region']})" if row["region"] else ""
        return (
            f"{row['name'] or row['sales_rep_id']}{region} with "
            f"{_orders(row['orders_closed'])} and {_money(row['revenue'])} of revenue"
        )

    if slots.lowest:
        what = "the fewest orders" if closed else "the least revenue"
        return f"The sales rep{where} with {what} {span} was {line(data['lowest'])}."
    what = "closed the most orders" if closed else "brought in the most revenue"
    leader, *others = data["reps"]
    text = f"The sales rep{where} who {what} {span} was {line(leader)}."
    return text + _listed("Next", (line(row) for row in others))


def _render_regions(call: ToolCall, slots: Slots) -> str:
    data = call.result
    span = _span(data["period"])
    selected = data["selected"]
    if selected is not None:
        return (
            f"The {selected['region']} region had {_money(selected['revenue'])} of revenue "
            f"{span} over {_orders(selected['orders'])} "
            f"({_pct(selected['revenue_share_pct'])} of {_money(data['total_revenue'])}), "
            f"rank {selected['rank']} of {data['region_count']} regions."
        )
    if not data["regions"]:
        return f"There were no sales {span}."
    if slots.lowest:
        row = data["regions"][-1]
        return (
            f"The region with the least revenue {span} was {row['region']} with "
            f"{_money(row['revenue'])} ({_pct(row['revenue_share_pct'])})."
        )
    rows = "; ".join(_revenue_share(row, "region") for row in data["regions"])
    return f"Revenue by region {span}: {rows}."


def _render_products(call: ToolCall, slots: Slots) -> str:
    data = call.result
    if not data["products"]:
        return f"No product sold {_span(data['period'])}."
    rows = "; ".join(
        f"{row['name'] or row['sku']} ({row['sku']}, {row['category']}) "
        f"{_money(row['revenue'])} from {_orders(row['orders'])}"
        for row in data["products"]
    )
    return f"Top {_count(data['count'])} products by revenue {_span(data['period'])}: {rows}."


def _render_rfm(call: ToolCall, slots: Slots) -> str:
    data = call.result
    selected = data["selected"]
    if selected is not None:
        return (
            f"{_count(selected['customers'])} of {_count(data['scored_customers'])} customers "
            f"are in the {selected['segment']} RFM segment as of {data['as_of']}, with "
            f"{_money(selected['revenue'])} of revenue ({_pct(selected['revenue_share_pct'])})."
        )
    rows = "; ".join(
        f"{row['segment']} {_count(row['customers'])} ({_money(row['revenue'])})"
        for row in data["segments"]
        if row["customers"]
    )
    scored = _count(data["scored_customers"])
    return f"RFM segments of {scored} customers as of {data['as_of']}: {rows}."


def _render_churn(call: ToolCall, slots: Slots) -> str:
    data = call.result
    levels = {row["level"]: row for row in data["risk_levels"]}
    high, medium, low = (levels.get(level, {}) for level in ("HIGH", "MEDIUM", "LOW"))
    text = (
        f"Of the {_count(data['scored_customers'])} customers scored as of {data['as_of']}, "
        f"{_count(high.get('customers'))} are at high churn risk (probability of at least "
        f"{_pct(data['high_risk_from_pct'])}), {_count(medium.get('customers'))} at medium risk "
        f"and {_count(low.get('customers'))} at low risk (below "
        f"{_pct(data['low_risk_below_pct'])}); the average churn probability is "
        f"{_pct(data['average_churn_probability_pct'])}."
    )
    if data["cutoff"]:
        text += (
            f" Observed churn rate: {_pct(data['current_churn_rate_pct'])} "
            f"({_count(data['total_churners'])} of the {_count(data['observed_customers'])} "
            f"customers active at {data['cutoff']} placed no order within "
            f"{_count(data['horizon_days'])} days)."
        )
    else:
        text += f" Churn rate in the labels: {_pct(data['current_churn_rate_pct'])}."
    return text + _listed(
        "Most at risk",
        (f"{_who(row)} ({_pct(row['churn_probability_pct'])})" for row in data["top_at_risk"]),
    )


def _render_forecast(call: ToolCall, slots: Slots) -> str:
    data = call.result
    unit = {"WEEK": "week", "MONTH": "month", "QUARTER": "quarter"}[data["granularity"]]
    unit += "" if data["horizon"] == 1 else "s"
    points = "; ".join(
        f"from {p['period_start']}: {_money(p['revenue'])} ({_money(p['lower'])} to "
        f"{_money(p['upper'])})"
        for p in data["points"]
    )
    text = (
        f"Forecast revenue for the next {_count(data['horizon'])} {unit} is "
        f"{_money(data['total_forecast'])} in total ({data['method']}; "
        f"{_pct(data['interval_level_pct'])} intervals): {points}."
    )
    backtest = data["backtest"]
    if backtest and backtest["mape_pct"] is not None:
        text += f" Held-out error (MAPE) on the last periods: {_pct(backtest['mape_pct'])}."
    return text


def _render_clv(call: ToolCall, slots: Slots) -> str:
    data = call.result
    text = (
        f"Predicted lifetime value over the next {_count(data['horizon_months'])} months is "
        f"{_money(data['total_predicted_value'])} across {_count(data['customers_modelled'])} "
        f"customers ({_money(data['average_predicted_value'])} on average); the average "
        f"probability that a customer is still active is {_pct(data['average_p_alive_pct'])}."
    )
    return text + _listed(
        "Highest",
        (f"{_who(row)} ({_money(row['predicted_value'])})" for row in data["top_customers"]),
    )


def _render_satisfaction(call: ToolCall, slots: Slots) -> str:
    data = call.result
    if not data["respondents"]:
        return "No customer has a satisfaction score."
    text = (
        f"The average satisfaction score is {data['average']} (median {data['median']}) over "
        f"{_count(data['respondents'])} customers with a score."
    )
    return text + _listed(
        "By region", (f"{row['region']} {row['average']}" for row in data["by_region"])
    )


def _listed(label: str, parts: Iterable[str]) -> str:
    """`` Label: a; b.`` to append to a sentence, or nothing when there is nothing to list."""
    items = list(parts)
    return f" {label}: " + "; ".join(items) + "." if items else ""


def _render_generic(call: ToolCall, slots: Slots) -> str:
    """A tool without a template of its own: the shared plain rendering of its result."""
    return render_result(call.result, title=f"{call.name}:")


RENDERERS: dict[str, Callable[[ToolCall, Slots], str]] = {
    "get_kpis": _render_kpis,
    "compare_kpis": _render_compare,
    "revenue_series": _render_series,
    "top_customers": _render_top_customers,
    "customer_report": _render_report,
    "category_performance": _render_categories,
    "sales_rep_performance": _render_reps,
    "region_performance": _render_regions,
    "top_products": _render_products,
    "rfm_segments": _render_rfm,
    "churn_summary": _render_churn,
    "sales_forecast": _render_forecast,
    "lifetime_value": _render_clv,
    "customer_satisfaction": _render_satisfaction,
}
