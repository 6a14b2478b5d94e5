from __future__ import annotations

from typing import Annotated, cast

import strawberry
from strawberry.types import Info

from analytics.ask.providers import Usage
from analytics.ask.service import MAX_QUESTION_CHARS, AskResult
from analytics.ask.toolbox import ToolCall as ToolCallResult
from resolvers.ask import resolve_ask_ai
from resolvers.context import Context
from schema.permissions import IsAnalyst
from schema.scalars import JSON


@strawberry.type(description="One read-only analytics tool the answer was computed with.")
class ToolCall:
    name: str
    arguments: JSON = strawberry.field(description="The validated arguments it ran with.")
    result: JSON = strawberry.field(description="What it returned: the answer's numbers.")
    cached: bool = strawberry.field(
        description="Served from the cache of this dataset version, not recomputed."
    )

    @classmethod
    def from_result(cls, call: ToolCallResult) -> ToolCall:
        return cls(
            name=call.name,
            arguments=cast(JSON, call.arguments),
            result=cast(JSON, call.result),
            cached=call.cached,
        )


@strawberry.type(description="Tokens over every model call of one question.")
class TokenUsage:
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None

    @classmethod
    def from_result(cls, usage: Usage) -> TokenUsage:
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        )


@strawberry.type(description="A question answered from salescope's own analytics.")
class AskAIPayload:
    answer: str = strawberry.field(description="Every number in it comes from toolCalls.")
    dataset: strawberry.ID = strawberry.field(description="The one dataset the tools read.")
    provider: str = strawberry.field(description="Who answered: openai or local.")
    model: str | None = strawberry.field(description="The model used; null when none was.")
    tool_calls: list[ToolCall]
    data: JSON | None = strawberry.field(description="The structured result, chart-ready.")
    figure: JSON | None = strawberry.field(description="A Plotly figure where a chart fits.")
    usage: TokenUsage | None = strawberry.field(
        description="Summed over every model call; null when unknown or no model was called."
    )
    cost_usd: float | None = strawberry.field(
        description="From the configured price table; 0 for the local provider, null when "
        "the tokens are unknown."
    )
    latency_ms: int = strawberry.field(description="Time to answer, in milliseconds.")
    cached: bool = strawberry.field(
        description="Every tool result came from the cache (model calls are never cached)."
    )
    conversation_id: strawberry.ID = strawberry.field(
        description="Pass it with a follow-up question to build on this one."
    )
    fallback: str | None = strawberry.field(
        description="Why this answer is not the chosen provider's own (e.g. OpenAI was "
        "rate-limited and the local provider answered); null when it is."
    )
    confident: bool = strawberry.field(
        description="False when the question was matched to a tool only loosely."
    )
    suggestions: list[str] = strawberry.field(description="Questions this dataset can answer.")

    @classmethod
    def from_result(cls, result: AskResult) -> AskAIPayload:
        return cls(
            answer=result.answer,
            dataset=strawberry.ID(result.dataset_id),
            provider=result.provider,
            model=result.model,
            tool_calls=[ToolCall.from_result(call) for call in result.tool_calls],
            data=cast(JSON, result.data),
            figure=cast(JSON, result.figure),
            usage=None if result.usage is None else TokenUsage.from_result(result.usage),
            cost_usd=result.cost_usd,
            latency_ms=result.latency_ms,
            cached=result.cached,
            conversation_id=strawberry.ID(result.conversation_id),
            fallback=result.fallback,
            confident=result.confident,
            suggestions=list(result.suggestions),
        )


@strawberry.type
class AskMutation:
    @strawberry.mutation(
        name="askAI",
        description="Ask a question in plain language; the answer is computed by salescope's "
        "analytics on one dataset, never invented, and lists the tool calls it came from.",
        permission_classes=[IsAnalyst],
    )
    async def ask_ai(
        self,
        info: Info[Context, None],
        question: Annotated[
            str, strawberry.argument(description=f"1..{MAX_QUESTION_CHARS} characters.")
        ],
        dataset: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="Default: the conversation's dataset, else the caller's default."
            ),
        ] = None,
        conversation_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="From a previous answer, for a follow-up."),
        ] = None,
    ) -> AskAIPayload:
        result = await resolve_ask_ai(
            info.context,
            question,
            None if dataset is None else str(dataset),
            None if conversation_id is None else str(conversation_id),
        )
        return AskAIPayload.from_result(result)
