"""The GraphQL side of the audit log: every mutation, every refused field."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import structlog
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.utilities import value_from_ast_untyped
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from analytics.audit import DENIED, FAILED, SUCCESS, AuditEvent, record_audit
from analytics.errors import AnalyticsError
from resolvers._utils import off_loop
from resolvers.context import Context

logger = structlog.get_logger("salescope.audit")

# Arguments worth naming in the log; file contents and customer features are not.
TARGET_ARGUMENTS = ("dataset", "id", "jobId", "modelId", "customerId", "name", "role", "datasets")
DENIAL_CODES = frozenset({"FORBIDDEN", "UNAUTHENTICATED"})


class AuditTrail(SchemaExtension):
    """Records each top-level field of a mutation, and any field refused for lack of rights."""

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context.context
        operation = self._operation()
        if not isinstance(context, Context) or operation is None:
            return
        mutation = self.execution_context.operation_type == OperationType.MUTATION
        result = self.execution_context.result
        errors = list(result.errors or ()) if result is not None else []
        variables = self.execution_context.variables or {}
        for field in _top_level_fields(operation.selection_set, self._fragments()):
            key = field.alias.value if field.alias else field.name.value
            code = _first_error_code(errors, key)
            outcome = SUCCESS if code is None else DENIED if code in DENIAL_CODES else FAILED
            if not mutation and outcome != DENIED:
                continue
            event = AuditEvent(
                actor=context.principal.subject,
                role=context.principal.role.value if context.principal.authenticated else None,
                action=f"graphql.{field.name.value}",
                outcome=outcome,
                target=_target(field, variables),
                status=403 if outcome == DENIED else None,
                ip=context.client_ip,
                request_id=context.request_id,
                detail=code,
            )
            try:
                await off_loop(record_audit, context.store.engine, event)
            except Exception:
                logger.exception("writing the audit log failed", action=event.action)

    def _operation(self) -> OperationDefinitionNode | None:
        document = self.execution_context.graphql_document
        if document is None:
            return None
        name = self.execution_context.operation_name
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        for operation in operations:
            if name is None or (operation.name and operation.name.value == name):
                return operation
        return None

    def _fragments(self) -> dict[str, SelectionSetNode]:
        document = self.execution_context.graphql_document
        if document is None:
            return {}
        return {
            definition.name.value: definition.selection_set
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }


def _top_level_fields(
    selection_set: SelectionSetNode, fragments: dict[str, SelectionSetNode]
) -> Iterator[FieldNode]:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if not selection.name.value.startswith("__"):
                yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _top_level_fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            yield from _top_level_fields(fragments[selection.name.value], fragments)


def _first_error_code(errors: list[GraphQLError], key: str) -> str | None:
    for error in errors:
        if not error.path or error.path[0] != key:
            continue
        original = error.original_error
        if isinstance(original, AnalyticsError):
            return original.code
        extensions = (original.extensions if isinstance(original, GraphQLError) else None) or (
            error.extensions or {}
        )
        return str(extensions.get("code", "INTERNAL_SERVER_ERROR"))
    return None


def _target(field: FieldNode, variables: dict[str, Any]) -> str | None:
    parts = []
    for argument in field.arguments or ():
        if argument.name.value in TARGET_ARGUMENTS:
            value = value_from_ast_untyped(argument.value, variables)
            parts.append(f"{argument.name.value}={value}")
    return ", ".join(parts) or None
