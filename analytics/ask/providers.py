"""What every askAI provider returns, and the one method it implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from analytics.ask.toolbox import Toolbox
from analytics.charts import Figure


@dataclass(frozen=True)
class Usage:
    """Tokens over every model call of one question; a part is None when unknown."""

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None


@dataclass(frozen=True)
class Turn:
    """A previous question of a conversation, for follow-ups ("and the month before?")."""

    question: str
    tool: str | None
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ProviderAnswer:
    """A provider's answer; every number in ``answer`` comes from ``toolbox.calls``.

    ``fallback`` says why the answer is not the provider's own (e.g. the model's
    prose carried a number no tool returned, so a templated answer replaced it).
    """

    answer: str
    provider: str  # "local" or "openai"
    model: str | None
    usage: Usage | None
    data: dict[str, Any] | None
    figure: Figure | None
    confident: bool = True
    fallback: str | None = None
    suggestions: tuple[str, ...] = ()


class Provider(Protocol):
    name: str

    def answer(self, question: str, toolbox: Toolbox, previous: Turn | None) -> ProviderAnswer:
        """Answer ``question`` by calling tools on ``toolbox`` (which records the calls)."""
        ...
