"""askAI from question to answer: provider choice, budget, cost, latency, conversations.

A question is answered by a provider calling tools on a toolbox bound to the
caller's dataset; this module decides which provider, refuses a paid one once
the caller's daily budget is spent, prices the tokens, and remembers the
question's tool and arguments so a follow-up ("and the month before?") can
reuse them. Spend and conversations live in the database, so they survive
restarts and are shared by every worker.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from analytics.ask.local import LocalProvider
from analytics.ask.openai_provider import (
    DEFAULT_MODEL,
    AIBadResponseError,
    AIProviderError,
    AIRateLimitedError,
    AITimeoutError,
    AIToolCallError,
    AIUnavailableError,
    OpenAIConfig,
    OpenAIProvider,
)
from analytics.ask.pricing import PriceTable
from analytics.ask.providers import Provider, ProviderAnswer, Turn, Usage
from analytics.ask.toolbox import Toolbox, ToolCall, ToolScope
from analytics.ask.tools import CATALOGUE
from analytics.charts import Figure
from analytics.db import AiConversation, AiSpend
from analytics.errors import AnalyticsError, InvalidArgumentError
from analytics.store import AnalyticsStore

logger = structlog.get_logger("salescope.ask")

ANONYMOUS = "anonymous"
LOCAL = "local"
MAX_QUESTION_CHARS = 500
# A follow-up needs only the latest turns; older ones would only grow the row.
MAX_TURNS = 20


class BudgetExceededError(AnalyticsError):
    """The caller's askAI spend for today has reached the daily budget."""

    code = "AI_BUDGET_EXCEEDED"


class ConversationNotFoundError(AnalyticsError, LookupError):
    code = "NOT_FOUND"

    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"conversationId: conversation {conversation_id!r} does not exist")
        self.conversation_id = conversation_id


@dataclass(frozen=True)
class AskConfig:
    """How questions are answered; OpenAI is used only when ``openai_api_key`` is set."""

    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    model: str = DEFAULT_MODEL
    timeout: float = 30.0  # seconds per model call
    max_retries: int = 2
    max_completion_tokens: int = 800
    prices: PriceTable = field(default_factory=PriceTable)
    daily_budget_usd: float = 5.0  # per caller and UTC day, paid providers only
    fallback_to_local: bool = True


@dataclass(frozen=True)
class AskResult:
    """One answered question.

    ``cached`` is true when the answer needed at least one tool call and every
    one was served from the per-dataset-version cache: the numbers were not
    recomputed. It says nothing about model calls, which are never cached
    (``usage`` and ``cost_usd`` show what they took). ``cost_usd`` is 0 for
    the local provider and ``None`` when a paid provider's usage is unknown.
    """

    dataset_id: str
    question: str
    answer: str
    provider: str
    model: str | None
    tool_calls: tuple[ToolCall, ...]
    data: dict[str, Any] | None
    figure: Figure | None
    usage: Usage | None
    cost_usd: float | None
    latency_ms: int
    cached: bool
    conversation_id: str
    fallback: str | None
    confident: bool
    suggestions: tuple[str, ...]


@dataclass(frozen=True)
class AskAttempt:
    """What one question came to, for listeners of :class:`AskService` (metrics).

    ``provider`` is the one asked first; ``outcome`` is ``answered``,
    ``fallback`` (another provider answered) or the error's code. ``usage``
    and ``cost_usd`` are what the models took, failed calls included.
    """

    provider: str
    outcome: str
    usage: Usage | None
    cost_usd: float | None
    seconds: float


@dataclass(frozen=True)
class AskService:
    """The providers and configuration askAI answers with, shared by every request.

    ``provider`` is OpenAI when a key is configured, else the local provider;
    ``local`` answers when OpenAI fails and ``config.fallback_to_local`` is on.
    """

    config: AskConfig
    provider: Provider
    local: Provider
    _listeners: list[Callable[[AskAttempt], None]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    @classmethod
    def from_config(cls, config: AskConfig) -> AskService:
        local = LocalProvider()
        if not config.openai_api_key:
            return cls(config, local, local)
        openai = OpenAIProvider(
            OpenAIConfig(
                api_key=config.openai_api_key,
                model=config.model,
                base_url=config.openai_base_url,
                timeout=config.timeout,
                max_retries=config.max_retries,
                max_completion_tokens=config.max_completion_tokens,
            )
        )
        return cls(config, openai, local)

    def close(self) -> None:
        """Release the OpenAI client's connections."""
        if isinstance(self.provider, OpenAIProvider):
            self.provider.close()

    def subscribe(self, listener: Callable[[AskAttempt], None]) -> Callable[[], None]:
        """Call ``listener`` after every question, answered or not; returns unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def ask(
        self,
        store: AnalyticsStore,
        dataset_id: str | None,
        question: str,
        *,
        conversation_id: str | None = None,
        caller: str = ANONYMOUS,
    ) -> AskResult:
        """:func:`ask_question` with this service's providers; blocks."""
        started = time.perf_counter()
        try:
            result = ask_question(
                store,
                dataset_id,
                question,
                config=self.config,
                provider=self.provider,
                fallback=None if self.provider is self.local else self.local,
                conversation_id=conversation_id,
                caller=caller,
            )
        except Exception as error:
            usage = error.usage if isinstance(error, AIProviderError) else None
            code = error.code if isinstance(error, AnalyticsError) else "INTERNAL_SERVER_ERROR"
            self._notify(
                AskAttempt(
                    provider=self.provider.name,
                    outcome=code,
                    usage=usage,
                    cost_usd=self.config.prices.cost(usage) if usage is not None else None,
                    seconds=time.perf_counter() - started,
                )
            )
            raise
        answered = result.provider == self.provider.name
        self._notify(
            AskAttempt(
                provider=self.provider.name,
                outcome="answered" if answered else "fallback",
                usage=result.usage,
                cost_usd=result.cost_usd,
                seconds=time.perf_counter() - started,
            )
        )
        return result

    def _notify(self, attempt: AskAttempt) -> None:
        for listener in list(self._listeners):
            try:
                listener(attempt)
            except Exception:
                logger.exception("askAI listener failed")


def ask_question(
    store: AnalyticsStore,
    dataset_id: str | None,
    question: str,
    *,
    config: AskConfig,
    provider: Provider,
    fallback: Provider | None = None,
    conversation_id: str | None = None,
    caller: str = ANONYMOUS,
) -> AskResult:
    """Answer ``question`` over one dataset with ``provider``; blocks (SQL, pandas, HTTP).

    ``dataset_id`` may be ``None`` only with a ``conversation_id``: the
    conversation's dataset is used. When ``provider`` fails with a transient
    AI error (rate limit, timeout, unavailable, malformed tool call) and
    ``config.fallback_to_local`` is on, ``fallback`` answers instead and the
    result's ``fallback`` says why.

    Raises
    ------
    InvalidArgumentError
        An empty or too long question, or a conversation of another dataset.
    ConversationNotFoundError
        ``conversation_id`` names no conversation of this caller.
    DatasetNotFoundError
        The dataset does not exist.
    BudgetExceededError
        ``provider`` is paid and the caller's budget for today is spent.
    AIProviderError
        ``provider`` failed and there is no fallback for that failure.
    """
    question = check_question(question)
    started = time.perf_counter()
    engine = store.engine
    conversation = None
    if conversation_id is not None:
        conversation = load_conversation(engine, conversation_id, caller)
        if dataset_id is None:
            dataset_id = conversation.dataset_id
        elif conversation.dataset_id != dataset_id:
            raise InvalidArgumentError(
                f"conversationId: conversation {conversation_id!r} is about dataset "
                f"{conversation.dataset_id!r}, not {dataset_id!r}; start a new conversation"
            )
    if dataset_id is None:
        raise InvalidArgumentError("dataset: name a dataset or a conversationId")
    store.version(dataset_id)  # a missing dataset is NOT_FOUND before anything is spent
    if provider.name != LOCAL:
        check_budget(engine, caller, config.daily_budget_usd)

    previous = previous_turn(conversation.turns) if conversation is not None else None
    toolbox = Toolbox(ToolScope(store, dataset_id), CATALOGUE)
    spent = False
    try:
        answer = provider.answer(question, toolbox, previous)
    except AIProviderError as error:
        # The model calls made before the failure are paid for, whatever happens next.
        cost = config.prices.cost(error.usage)
        with engine.begin() as conn:
            record_spend(conn, caller, cost)
        spent = True
        if (
            fallback is None
            or not config.fallback_to_local
            or not isinstance(error, FALLBACK_ERRORS)
        ):
            raise
        logger.warning(
            "askAI provider failed, answering locally", code=error.code, error=str(error)
        )
        toolbox = Toolbox(ToolScope(store, dataset_id), CATALOGUE)
        answer = fallback.answer(question, toolbox, previous)
        reason = f"{error.code}: {error}"
        answer = replace(
            answer,
            usage=error.usage,
            fallback=reason if answer.fallback is None else f"{reason}; {answer.fallback}",
        )
    else:
        cost = 0.0 if answer.provider == LOCAL else config.prices.cost(answer.usage)

    calls = tuple(toolbox.calls)
    with engine.begin() as conn:
        if not spent:
            record_spend(conn, caller, cost)
        conversation_id = append_turn(conn, conversation, dataset_id, caller, question, calls)
    return _result(dataset_id, question, answer, calls, cost, conversation_id, started)


def _result(
    dataset_id: str,
    question: str,
    answer: ProviderAnswer,
    calls: tuple[ToolCall, ...],
    cost: float | None,
    conversation_id: str,
    started: float,
) -> AskResult:
    return AskResult(
        dataset_id=dataset_id,
        question=question,
        answer=answer.answer,
        provider=answer.provider,
        model=answer.model,
        tool_calls=calls,
        data=answer.data,
        figure=answer.figure,
        usage=answer.usage,
        cost_usd=cost,
        latency_ms=round((time.perf_counter() - started) * 1000),
        cached=bool(calls) and all(call.cached for call in calls),
        conversation_id=conversation_id,
        fallback=answer.fallback,
        confident=answer.confident,
        suggestions=answer.suggestions,
    )


def check_question(question: str) -> str:
    stripped = question.strip()
    if not stripped:
        raise InvalidArgumentError("question: ask something (it is empty)")
    if len(stripped) > MAX_QUESTION_CHARS:
        raise InvalidArgumentError(
            f"question: at most {MAX_QUESTION_CHARS} characters, got {len(stripped)}"
        )
    return stripped


# Failures of the model service or of one reply: the local provider can still
# answer. A rejected key or request is a configuration fault and stays an error.
FALLBACK_ERRORS: tuple[type[AIProviderError], ...] = (
    AIRateLimitedError,
    AITimeoutError,
    AIUnavailableError,
    AIToolCallError,
    AIBadResponseError,
)


# --- conversations -----------------------------------------------------------------------


@dataclass(frozen=True)
class Conversation:
    id: str
    dataset_id: str
    turns: tuple[Turn, ...]


def load_conversation(engine: Engine, conversation_id: str, caller: str) -> Conversation:
    """The caller's conversation; another caller's is as unknown as a missing one."""
    table = AiConversation.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(table.c.dataset_id, table.c.caller, table.c.turns).where(
                table.c.id == conversation_id
            )
        ).first()
    if row is None or row.caller != caller:
        raise ConversationNotFoundError(conversation_id)
    turns = tuple(
        Turn(str(turn["question"]), turn.get("tool"), dict(turn.get("arguments") or {}))
        for turn in row.turns or ()
    )
    return Conversation(conversation_id, row.dataset_id, turns)


def previous_turn(turns: Sequence[Turn]) -> Turn | None:
    """The turn a follow-up resolves against: the latest that called a tool, else the latest.

    A question no tool could answer gives a follow-up nothing to build on, so
    it is skipped in favour of the last one that did.
    """
    for turn in reversed(turns):
        if turn.tool is not None:
            return turn
    return turns[-1] if turns else None


def append_turn(
    conn: Connection,
    conversation: Conversation | None,
    dataset_id: str,
    caller: str,
    question: str,
    calls: Sequence[ToolCall],
) -> str:
    """Remember the question and its last tool call; a new conversation when there is none."""
    last = calls[-1] if calls else None
    turn = {
        "question": question,
        "tool": None if last is None else last.name,
        "arguments": {} if last is None else last.arguments,
    }
    table = AiConversation.__table__  # type: ignore[attr-defined]
    now = dt.datetime.now(dt.UTC)
    if conversation is None:
        new_id = uuid.uuid4().hex
        conn.execute(
            table.insert().values(
                id=new_id,
                dataset_id=dataset_id,
                caller=caller,
                turns=[turn],
                created_at=now,
                updated_at=now,
            )
        )
        return new_id
    # Locks the row on PostgreSQL so concurrent follow-ups do not drop each other's turn.
    turns = conn.execute(
        sa.select(table.c.turns).where(table.c.id == conversation.id).with_for_update()
    ).scalar_one()
    conn.execute(
        table.update()
        .where(table.c.id == conversation.id)
        .values(turns=[*(turns or []), turn][-MAX_TURNS:], updated_at=now)
    )
    return conversation.id


# --- spend -------------------------------------------------------------------------------


def today() -> dt.date:
    """Budgets are per UTC day."""
    return dt.datetime.now(dt.UTC).date()


def spent_today(engine: Engine, caller: str) -> float:
    table = AiSpend.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        spent = conn.execute(
            sa.select(table.c.cost_usd).where(table.c.caller == caller, table.c.day == today())
        ).scalar()
    return float(spent or 0.0)


def check_budget(engine: Engine, caller: str, budget_usd: float) -> None:
    """Refuse once today's spend has reached ``budget_usd``.

    Questions that pass the check at the same moment may together overshoot
    the budget by their own cost, which ``max_completion_tokens`` bounds.
    """
    spent = spent_today(engine, caller)
    if spent >= budget_usd:
        raise BudgetExceededError(
            f"askAI: the daily budget of ${budget_usd:.2f} is spent (${spent:.4f} today); "
            "it resets at 00:00 UTC"
        )


def record_spend(conn: Connection, caller: str, cost_usd: float | None) -> None:
    """Add one question and its cost (``None``: unknown, counted as 0) to today's ledger."""
    table = AiSpend.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(
        caller=caller, day=today(), cost_usd=cost_usd or 0.0, questions=1
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.caller, table.c.day],
            set_={
                "cost_usd": table.c.cost_usd + statement.excluded.cost_usd,
                "questions": table.c.questions + 1,
            },
        )
    )
