"""The GraphQL side of the audit log: every mutation, every refused field."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.utilities import get_operation_ast, value_from_ast_untyped
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from analytics.audit import DENIED, FAILED, SUCCESS, AuditEvent, record_audit_or_log
from analytics.errors import AnalyticsError
from resolvers._utils import off_loop
from resolvers.context import Context

# Arguments worth naming in the log; file contents and customer features are not.
TARGET_ARGUMENTS = ("dataset", "id", "jobId", "modelId", "customerId", "name", "role", "datasets")
DENIAL_CODES = frozenset({"FORBIDDEN", "UNAUTHENTICATED"})


# The refusals of hostile documents (schema.limits and the token limit), audited as denials.
HOSTILE_DOCUMENT = re.compile(
    r"exceeds maximum operation depth|aliases found\. Allowed|^Query cost \d+ exceeds"
    r"|^Document contains more than \d+ tokens|^Syntax Error: Document contains more than"
)


class AuditTrail(SchemaExtension):
    """Records each top-level field of a mutation, any field refused for lack of rights,
    and documents refused by the depth, alias, token and cost limits."""

    async def on_operation(self) -> AsyncIterator[None]:
        try:
            yield
        except GraphQLError as error:
            # The token limit aborts parsing with an exception through this hook.
            await self._audit_refusal([error])
            raise
        await self._audit_refusal(self.execution_context.pre_execution_errors or ())

    async def _audit_refusal(self, errors: Iterable[GraphQLError]) -> None:
        context = self.execution_context.context
        refused = [error.message for error in errors if HOSTILE_DOCUMENT.search(error.message)]
        if not refused or not isinstance(context, Context):
            return
        await _record(
            context,
            "graphql.refused",
            DENIED,
            target=self._operation_name(),
            status=400,
            detail="; ".join(refused),
        )

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
            await _record(
                context,
                f"graphql.{field.name.value}",
                outcome,
                target=_target(field, variables),
                status=403 if outcome == DENIED else None,
                detail=code,
            )

    def _operation_name(self) -> str | None:
        # An unparsable document has no operations to name.
        if self.execution_context.graphql_document is None:
            return None
        return self.execution_context.operation_name

    def _operation(self) -> OperationDefinitionNode | None:
        document = self.execution_context.graphql_document
        if document is None:
            return None
        return get_operation_ast(document, self.execution_context.operation_name)

    def _fragments(self) -> dict[str, SelectionSetNode]:
        document = self.execution_context.graphql_document
        if document is None:
            return {}
        return {
            definition.name.value: definition.selection_set
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }


async def _record(
    context: Context,
    action: str,
    outcome: str,
    *,
    target: str | None,
    status: int | None,
    detail: str | None,
) -> None:
    """Write one entry; a failing audit write is logged, never turned into an error."""
    event = AuditEvent.by(
        context.principal,
        action,
        outcome,
        target=target,
        status=status,
        ip=context.client_ip,
        request_id=context.request_id,
        detail=detail,
    )
    await off_loop(record_audit_or_log, context.store.engine, event)


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
