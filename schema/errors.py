"""How errors reach clients: user mistakes explained, internal faults masked."""

from __future__ import annotations

import structlog
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from analytics.errors import AnalyticsError

logger = structlog.get_logger("salescope.graphql")

INTERNAL_MESSAGE = "Internal server error"


class ErrorPolicy(MaskErrors):
    """Give every error an ``extensions.code``; replace internal faults by a request id.

    Errors raised by the analytics layer for bad arguments carry a message
    meant for the caller. Anything else may leak internals (SQL, paths), so it
    is logged in full and the client gets only the request id to find it.
    """

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [self._classify(error) for error in errors]

    def _classify(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None or (
            # Raised while coercing the request's variables, before any resolver:
            # the message describes what the client sent.
            error.path is None and isinstance(original, GraphQLError | ValueError | TypeError)
        ):
            default = (
                "BAD_USER_INPUT"
                if error.message.startswith("Variable '$")
                else ("GRAPHQL_VALIDATION_FAILED")
            )
            code = (error.extensions or {}).get("code", default)
            return self._with_code(error, error.message, code)
        if isinstance(original, AnalyticsError):
            return self._with_code(error, str(original), original.code)
        if isinstance(original, GraphQLError) and (original.extensions or {}).get("code"):
            return error
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        logger.error("resolver failed", path=error.path, exc_info=original)
        extensions: dict[str, object] = {"code": "INTERNAL_SERVER_ERROR"}
        if request_id:
            extensions["requestId"] = request_id
        return GraphQLError(
            INTERNAL_MESSAGE,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=extensions,
        )

    @staticmethod
    def _with_code(error: GraphQLError, message: str, code: str) -> GraphQLError:
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=error.original_error,
            extensions={**(error.extensions or {}), "code": code},
        )
