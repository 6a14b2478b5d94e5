"""The read-only tools a question may use, bound to one caller's dataset.

A provider (the local router or a language model) only ever chooses a tool
by name and proposes arguments. The toolbox validates those arguments
against the tool's JSON schema, runs the salescope analytics behind it on
the caller's dataset (a tool has no dataset parameter, so no prompt can
reach another one) and returns a compact JSON result. Nothing a provider
sends is evaluated as code or SQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jsonschema

from analytics.charts import Figure
from analytics.errors import AnalyticsError
from analytics.frames import DatasetFrames
from analytics.store import AnalyticsStore

T = TypeVar("T")

# A question may call at most this many tools (a model's rounds included).
MAX_TOOL_CALLS = 4


class ToolError(AnalyticsError):
    """A tool call that cannot run: unknown tool, bad arguments, too many calls."""


@dataclass(frozen=True)
class ToolOutput:
    """What a tool returns: ``data`` is compact and JSON-safe (what a model sees)."""

    data: dict[str, Any]
    figure: Figure | None = None


@dataclass(frozen=True)
class ToolScope:
    """All a tool may touch: one dataset of one store, read only."""

    store: AnalyticsStore
    dataset_id: str

    def frames(self) -> DatasetFrames:
        return self.store.frames(self.dataset_id)

    def compute(self, key: Hashable, analysis: Callable[[DatasetFrames], T]) -> T:
        """``analysis`` over the dataset, cached per version (shared with GraphQL's keys)."""
        return self.store.compute(self.dataset_id, key, analysis)


@dataclass(frozen=True)
class Tool:
    """One read-only analytic a question can be answered with.

    ``parameters`` is a JSON schema (an object with ``additionalProperties:
    false``, enums and bounded integers) checked before ``run`` is called;
    ``examples`` are phrasings the local provider learns to route from.
    """

    name: str
    description: str
    parameters: Mapping[str, Any]
    run: Callable[[ToolScope, dict[str, Any]], ToolOutput]
    examples: Sequence[str] = ()

    def spec(self) -> dict[str, Any]:
        """The tool in the chat-completions ``tools`` format."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
                "strict": False,
            },
        }


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    result: dict[str, Any]
    figure: Figure | None
    cached: bool


@dataclass
class Toolbox:
    """The catalogue bound to one dataset for one question; records every call."""

    scope: ToolScope
    tools: Mapping[str, Tool]
    max_calls: int = MAX_TOOL_CALLS
    calls: list[ToolCall] = field(default_factory=list)

    def specs(self) -> list[dict[str, Any]]:
        return [tool.spec() for tool in self.tools.values()]

    def call(self, name: str, arguments: Mapping[str, Any] | str | None) -> ToolCall:
        """Validate and run one tool call; results are cached per dataset version.

        Raises
        ------
        ToolError
            Unknown tool, arguments that are not a JSON object or break the
            tool's schema, or more than ``max_calls`` calls.
        """
        tool = self.tools.get(name)
        if tool is None:
            raise ToolError(f"tool: unknown tool {name!r}; expected one of {', '.join(self.tools)}")
        if len(self.calls) >= self.max_calls:
            raise ToolError(f"tool: a question may use at most {self.max_calls} tool calls")
        parsed = parse_arguments(tool, arguments)
        key = ("ask", name, json.dumps(parsed, sort_keys=True))
        fresh: list[bool] = []

        def run(_frames: DatasetFrames) -> ToolOutput:
            fresh.append(True)
            return tool.run(self.scope, parsed)

        output = self.scope.compute(key, run)
        call = ToolCall(name, parsed, output.data, output.figure, cached=not fresh)
        self.calls.append(call)
        return call


def parse_arguments(tool: Tool, arguments: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """Arguments as a dict valid for ``tool``'s schema, or a ToolError naming the problem."""
    if arguments is None or arguments == "":
        parsed: Any = {}
    elif isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except json.JSONDecodeError as error:
            raise ToolError(f"{tool.name}: arguments are not valid JSON ({error.msg})") from None
    else:
        parsed = dict(arguments)
    if not isinstance(parsed, dict):
        raise ToolError(f"{tool.name}: arguments must be a JSON object")
    errors = sorted(
        jsonschema.Draft202012Validator(tool.parameters).iter_errors(parsed),
        key=lambda e: list(e.path),
    )
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.path) or "arguments"
        raise ToolError(f"{tool.name}: {where}: {first.message}")
    return parsed
