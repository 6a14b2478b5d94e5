from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from analytics.ask.openai_provider import (
    AIAuthFailedError,
    AIRateLimitedError,
    AIUnavailableError,
)
from analytics.ask.pricing import PriceTable
from analytics.ask.providers import ProviderAnswer, Turn, Usage
from analytics.ask.service import (
    AskConfig,
    AskResult,
    AskService,
    BudgetExceededError,
    ConversationNotFoundError,
    ask_question,
    load_conversation,
    previous_turn,
    record_spend,
    spent_today,
)
from analytics.ask.toolbox import Toolbox
from analytics.demo import create_demo_dataset
from analytics.errors import AnalyticsError, DatasetNotFoundError, InvalidArgumentError
from analytics.kpis import KpisResult, compute_kpis
from analytics.periods import DateRange
from analytics.store import AnalyticsStore
from tests.ask_stub import (
    OpenAIStub,
    completion,
    error_reply,
    rate_limited,
    server_error,
    tool_call,
)


@pytest.fixture
def store(engine: Engine) -> AnalyticsStore:
    create_demo_dataset(engine, "demo", customers=300)
    create_demo_dataset(engine, "other", customers=50, seed=7)
    return AnalyticsStore(engine)


@dataclass
class ScriptedProvider:
    """Stands in for a paid model: calls one tool for real and reports fixed usage."""

    name: str = "openai"
    tool: str = "get_kpis"
    arguments: dict[str, Any] = field(default_factory=dict)
    usage: Usage | None = field(default_factory=lambda: Usage(1000, 500, 1500))
    error: AnalyticsError | None = None
    previous: list[Turn | None] = field(default_factory=list)

    def answer(self, question: str, toolbox: Toolbox, previous: Turn | None) -> ProviderAnswer:
        self.previous.append(previous)
        if self.error is not None:
            raise self.error
        call = toolbox.call(self.tool, self.arguments)
        return ProviderAnswer(
            answer=f"Revenue was {call.result.get('total_revenue')}.",
            provider=self.name,
            model="scripted",
            usage=self.usage,
            data=call.result,
            figure=call.figure,
        )


Ask = Callable[..., AskResult]


@pytest.fixture
def ask_paid(store: AnalyticsStore) -> Ask:
    def run(question: str = "What was revenue?", **kwargs: Any) -> AskResult:
        kwargs.setdefault("provider", ScriptedProvider())
        kwargs.setdefault("config", AskConfig())
        kwargs.setdefault("dataset_id", "demo")
        dataset_id = kwargs.pop("dataset_id")
        return ask_question(store, dataset_id, question, **kwargs)

    return run


def test_price_table_prices_input_and_output_apart() -> None:
    prices = PriceTable()
    assert prices.cost(Usage(1000, 1000, 2000)) == pytest.approx(0.0125)
    assert prices.cost(Usage(1200, 300, 1500)) == pytest.approx(0.006)
    assert PriceTable(0.5, 2.0).cost(Usage(2000, 500, 2500)) == pytest.approx(2.0)


def test_unknown_tokens_give_an_unknown_cost() -> None:
    prices = PriceTable()
    assert prices.cost(None) is None
    assert prices.cost(Usage(100, None, None)) is None
    with pytest.raises(ValueError, match="input_per_1k"):
        PriceTable(-1.0, 0.01)


@pytest.mark.parametrize("question", ["", "   \n", "x" * 501])
def test_question_must_be_1_to_500_characters(ask_paid: Ask, question: str) -> None:
    with pytest.raises(InvalidArgumentError, match="question"):
        ask_paid(question)


def test_paid_answer_reports_usage_cost_and_the_tool_numbers(
    ask_paid: Ask, store: AnalyticsStore
) -> None:
    result = ask_paid(config=AskConfig(prices=PriceTable(0.002, 0.008)))
    kpis = store.compute("demo", "independent", compute_kpis)
    assert result.provider == "openai"
    assert result.dataset_id == "demo"
    assert [call.name for call in result.tool_calls] == ["get_kpis"]
    assert result.tool_calls[0].result["total_revenue"] == pytest.approx(
        kpis.total_revenue, abs=0.01
    )
    assert result.usage == Usage(1000, 500, 1500)
    assert result.cost_usd == pytest.approx(1000 * 0.002 / 1000 + 500 * 0.008 / 1000)
    assert result.latency_ms >= 0
    assert spent_today(store.engine, "anonymous") == pytest.approx(result.cost_usd)


def test_cached_only_when_every_tool_result_came_from_the_cache(ask_paid: Ask) -> None:
    first = ask_paid()
    again = ask_paid()
    assert not first.cached
    assert again.cached
    assert again.tool_calls[0].result == first.tool_calls[0].result


def test_budget_refuses_a_paid_provider_before_calling_it(
    ask_paid: Ask, store: AnalyticsStore
) -> None:
    with store.engine.begin() as conn:
        record_spend(conn, "anonymous", 0.02)
    provider = ScriptedProvider()
    with pytest.raises(BudgetExceededError, match=r"\$0\.01") as refused:
        ask_paid(provider=provider, config=AskConfig(daily_budget_usd=0.01))
    assert refused.value.code == "AI_BUDGET_EXCEEDED"
    assert provider.previous == []  # never called
    # Another caller's spend is their own.
    assert ask_paid(caller="someone-else", config=AskConfig(daily_budget_usd=0.01)).answer


def test_spend_accumulates_per_caller_and_day(ask_paid: Ask, store: AnalyticsStore) -> None:
    ask_paid(caller="a")
    ask_paid(caller="a")
    ask_paid(caller="b", provider=ScriptedProvider(usage=None))
    assert spent_today(store.engine, "a") == pytest.approx(2 * 0.0075)
    assert spent_today(store.engine, "b") == 0.0  # unknown usage: counted, not priced
    assert spent_today(store.engine, "nobody") == 0.0


def test_unknown_conversation_is_not_found(ask_paid: Ask) -> None:
    with pytest.raises(ConversationNotFoundError, match="conversationId") as missing:
        ask_paid(conversation_id="does-not-exist")
    assert missing.value.code == "NOT_FOUND"


def test_conversation_belongs_to_one_dataset_and_one_caller(ask_paid: Ask) -> None:
    first = ask_paid()
    with pytest.raises(InvalidArgumentError, match=r"conversationId.*'demo'"):
        ask_paid(dataset_id="other", conversation_id=first.conversation_id)
    with pytest.raises(ConversationNotFoundError):
        ask_paid(conversation_id=first.conversation_id, caller="intruder")


def test_follow_up_gets_the_previous_tool_and_arguments(
    ask_paid: Ask, store: AnalyticsStore
) -> None:
    march = {"start": "2025-03-01", "end": "2025-03-31"}
    first = ask_paid("Revenue in March 2025?", provider=ScriptedProvider(arguments=march))
    provider = ScriptedProvider()
    follow_up = ask_paid(
        "and the month before?",
        dataset_id=None,  # a follow-up stays on its conversation's dataset
        provider=provider,
        conversation_id=first.conversation_id,
    )
    assert follow_up.conversation_id == first.conversation_id
    assert follow_up.dataset_id == "demo"
    assert provider.previous == [Turn("Revenue in March 2025?", "get_kpis", march)]
    turns = load_conversation(store.engine, first.conversation_id, "anonymous").turns
    assert [turn.question for turn in turns] == ["Revenue in March 2025?", "and the month before?"]


def test_previous_turn_skips_questions_no_tool_answered() -> None:
    answered = Turn("revenue in May?", "get_kpis", {"start": "2025-05-01", "end": "2025-05-31"})
    unanswered = Turn("what is the weather?", None, {})
    assert previous_turn([answered, unanswered]) == answered
    assert previous_turn([unanswered]) == unanswered
    assert previous_turn([]) is None


def test_missing_dataset_is_not_found_and_spends_nothing(
    ask_paid: Ask, store: AnalyticsStore
) -> None:
    with pytest.raises(DatasetNotFoundError):
        ask_paid(dataset_id="nope")
    assert spent_today(store.engine, "anonymous") == 0.0


# --- the local provider (the default: no key, no network) ---------------------------------


@pytest.fixture
def local_service() -> AskService:
    return AskService.from_config(AskConfig())


def march_2025(store: AnalyticsStore, month: int = 3) -> KpisResult:
    start = dt.date(2025, month, 1)
    end = (pd.Timestamp(start) + pd.offsets.MonthEnd(0)).date()
    return compute_kpis(store.frames("demo"), period=DateRange(start, end))


def test_local_answers_with_the_numbers_the_analytics_compute(
    local_service: AskService, store: AnalyticsStore
) -> None:
    result = local_service.ask(store, "demo", "What was revenue in March 2025?")
    kpis = march_2025(store)
    assert local_service.provider.name == "local"
    assert (result.provider, result.model, result.usage, result.cost_usd) == (
        "local",
        None,
        None,
        0.0,
    )
    assert [(c.name, c.arguments) for c in result.tool_calls] == [
        ("get_kpis", {"start": "2025-03-01", "end": "2025-03-31"})
    ]
    assert result.data is not None
    assert result.data["total_revenue"] == round(kpis.total_revenue, 2)
    assert result.data["order_count"] == kpis.order_count
    assert f"{kpis.total_revenue:,.2f}" in result.answer
    assert result.confident and result.fallback is None


def test_local_follow_up_resolves_against_the_previous_question(
    local_service: AskService, store: AnalyticsStore
) -> None:
    first = local_service.ask(store, "demo", "What was revenue in March 2025?")
    # A new service and store: the conversation lives in the database, not in memory.
    restarted = AskService.from_config(AskConfig())
    follow_up = restarted.ask(
        AnalyticsStore(store.engine),
        None,
        "and the month before?",
        conversation_id=first.conversation_id,
    )
    february = march_2025(store, month=2)
    assert follow_up.tool_calls[0].arguments == {"start": "2025-02-01", "end": "2025-02-28"}
    assert follow_up.data is not None
    assert follow_up.data["total_revenue"] == round(february.total_revenue, 2)
    assert f"{february.total_revenue:,.2f}" in follow_up.answer


def test_a_question_no_tool_answers_is_said_so_with_suggestions(
    local_service: AskService, store: AnalyticsStore
) -> None:
    result = local_service.ask(store, "demo", "What will the weather be tomorrow?")
    assert result.tool_calls == ()
    assert not result.confident and not result.cached
    assert result.suggestions
    assert not any(char.isdigit() for char in result.answer.split("I can answer")[0])


def test_the_local_provider_is_free_and_never_refused(
    local_service: AskService, store: AnalyticsStore
) -> None:
    with store.engine.begin() as conn:
        record_spend(conn, "anonymous", 100.0)
    result = local_service.ask(store, "demo", "Who are our top 5 customers?")
    assert len(result.data["customers"]) == 5  # type: ignore[index]
    assert spent_today(store.engine, "anonymous") == 100.0


# --- OpenAI through the stub server --------------------------------------------------------

API_KEY = "sk-test-not-a-real-key"


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server
    assert (server.errors, server.unexpected, server.pending) == ([], 0, 0)


@pytest.fixture
def openai_service(stub: OpenAIStub) -> Iterator[Callable[..., AskService]]:
    services: list[AskService] = []

    def make(**overrides: Any) -> AskService:
        config = AskConfig(
            openai_api_key=API_KEY,
            openai_base_url=stub.base_url + "/v1",
            model="gpt-test-mini",
            timeout=5.0,
            max_retries=0,
            **overrides,
        )
        service = AskService.from_config(config)
        services.append(service)
        return service

    yield make
    for service in services:
        service.close()


def test_openai_is_chosen_when_a_key_is_configured(
    stub: OpenAIStub, openai_service: Callable[..., AskService], store: AnalyticsStore
) -> None:
    stub.script(
        [
            completion(
                tool_calls=[tool_call("get_kpis", {"start": "2025-03-01", "end": "2025-03-31"})]
            ),
            completion("Here is March's revenue, from the get_kpis tool."),
        ]
    )
    service = openai_service(max_completion_tokens=321)
    result = service.ask(store, "demo", "What was revenue in March 2025?")
    assert (result.provider, result.model) == ("openai", "gpt-test-mini")
    # Two model calls of DEFAULT_USAGE each, priced at the default table.
    assert result.usage == Usage(100, 20, 120)
    assert result.cost_usd == pytest.approx(100 * 0.0025 / 1000 + 20 * 0.01 / 1000)
    assert result.data is not None
    assert result.data["total_revenue"] == round(march_2025(store).total_revenue, 2)
    assert stub.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert {r.json["max_completion_tokens"] for r in stub.requests} == {321}
    assert spent_today(store.engine, "anonymous") == pytest.approx(result.cost_usd)


def test_a_rate_limited_model_degrades_to_local_flagged(
    stub: OpenAIStub, openai_service: Callable[..., AskService], store: AnalyticsStore
) -> None:
    stub.script([rate_limited()])
    result = openai_service().ask(store, "demo", "What was revenue in March 2025?")
    assert result.provider == "local"
    assert result.fallback is not None and result.fallback.startswith("AI_RATE_LIMITED")
    assert result.data is not None
    assert result.data["total_revenue"] == round(march_2025(store).total_revenue, 2)
    assert result.cost_usd is None  # the failed call's tokens are unknown


def test_without_fallback_the_provider_error_reaches_the_caller(
    stub: OpenAIStub, openai_service: Callable[..., AskService], store: AnalyticsStore
) -> None:
    stub.script([rate_limited()])
    with pytest.raises(AIRateLimitedError) as failed:
        openai_service(fallback_to_local=False).ask(store, "demo", "Revenue in March 2025?")
    assert failed.value.code == "AI_RATE_LIMITED"


def test_a_rejected_key_is_an_error_even_with_fallback_on(
    stub: OpenAIStub, openai_service: Callable[..., AskService], store: AnalyticsStore
) -> None:
    stub.script([error_reply(401, "Incorrect API key provided", type="invalid_request_error")])
    with pytest.raises(AIAuthFailedError) as failed:
        openai_service().ask(store, "demo", "What was revenue in March 2025?")
    assert API_KEY not in str(failed.value)


def test_budget_is_checked_before_any_model_call(
    stub: OpenAIStub, openai_service: Callable[..., AskService], store: AnalyticsStore
) -> None:
    with store.engine.begin() as conn:
        record_spend(conn, "anonymous", 1.0)
    with pytest.raises(BudgetExceededError, match=r"\$1\.00"):
        openai_service(daily_budget_usd=1.0).ask(store, "demo", "What was revenue?")
    assert stub.requests == []


@pytest.mark.parametrize("fallback_to_local", [True, False])
def test_tokens_spent_before_a_failure_are_charged(
    stub: OpenAIStub,
    openai_service: Callable[..., AskService],
    store: AnalyticsStore,
    fallback_to_local: bool,
) -> None:
    stub.script([completion(tool_calls=[tool_call("get_kpis", {})]), server_error()])
    service = openai_service(fallback_to_local=fallback_to_local)
    first_call = 50 * 0.0025 / 1000 + 10 * 0.01 / 1000  # DEFAULT_USAGE, the only reply
    if fallback_to_local:
        result = service.ask(store, "demo", "What is our revenue?")
        assert result.provider == "local"
        assert result.fallback is not None and result.fallback.startswith("AI_UNAVAILABLE")
        assert result.usage == Usage(50, 10, 60)
        assert result.cost_usd == pytest.approx(first_call)
    else:
        with pytest.raises(AIUnavailableError):
            service.ask(store, "demo", "What is our revenue?")
    assert spent_today(store.engine, "anonymous") == pytest.approx(first_call)
