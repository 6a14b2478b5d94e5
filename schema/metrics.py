"""Each GraphQL operation reported to the server's metrics: name, type, time, error codes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import structlog
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from resolvers.context import Context

logger = structlog.get_logger("salescope.graphql")

UNKNOWN_TYPE = "unknown"
UNCLASSIFIED = "INTERNAL_SERVER_ERROR"


class OperationMetrics(SchemaExtension):
    """Reports every operation to ``Context.metrics`` when the context has a recorder.

    First in the schema's extensions, it is entered first and left last: it
    times the whole operation and reads the errors after ErrorPolicy has
    given each the ``extensions.code`` the client sees. A subscription is
    one operation for its whole life.
    """

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self._report(time.perf_counter() - started)

    def _report(self, seconds: float) -> None:
        context = self.execution_context.context
        if not isinstance(context, Context) or context.metrics is None:
            return
        try:
            context.metrics.graphql_operation(
                self.execution_context.operation_name,
                self._operation_type(),
                seconds,
                [_code(error) for error in self._errors()],
            )
        except Exception:
            # Metrics observe; they must never fail the operation.
            logger.exception("recording GraphQL metrics failed")

    def _operation_type(self) -> str:
        try:
            return self.execution_context.operation_type.value
        except Exception:
            # No document (it did not parse) or no operation of the given name.
            return UNKNOWN_TYPE

    def _errors(self) -> list[GraphQLError]:
        result = self.execution_context.result
        if result is not None:
            return list(result.errors or ())
        return list(self.execution_context.pre_execution_errors or ())


def _code(error: GraphQLError) -> str:
    return str((error.extensions or {}).get("code") or UNCLASSIFIED)
