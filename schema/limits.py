"""Limits on what one GraphQL operation may cost, and on what its errors reveal."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    ValidationContext,
    ValidationRule,
    VariableValues,
    get_argument_values,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    get_variable_values,
    is_list_type,
)
from strawberry.extensions import SchemaExtension

DEFAULT_MAX_QUERY_COST = 20_000

# Arguments that set how many items a field returns, directly or in the list of
# the page object it returns (edges, nodes, items, topAtRisk).
PAGE_SIZE_ARGUMENTS = ("first", "limit", "top")

# Every paging argument refuses a value outside 1..1000 with BAD_USER_INPUT
# before it returns anything (tests/schema/test_limits.py checks each), so such
# a value counts as no items and the caller gets that clearer error.
MAX_PAGE_ARGUMENT = 1000

# Items assumed in a list nothing bounds (Customer.orders without `first`).
DEFAULT_LIST_SIZE = 10

# Lists known to be shorter than that. An order has a few lines: with 10 the
# customers > orders > items page of the customer screen would cost over the
# limit. Fields take an argument or two and types implement few interfaces:
# with 10 the introspection query of GraphiQL and code generators would cost
# about 50 000 for the 8 000 fields it resolves; nested `fields { type { fields`
# are still multiplied by 10 at each level.
LIST_SIZE_ESTIMATES: Mapping[str, int] = {
    "Order.items": 5,
    "__Field.args": 2,
    "__Directive.args": 2,
    "__Type.interfaces": 2,
    "__Type.possibleTypes": 2,
}

_META_FIELDS: Mapping[str, GraphQLField] = {
    "__schema": SchemaMetaFieldDef,
    "__type": TypeMetaFieldDef,
}


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int | None:
    """The cost of the operation that would run, or ``None`` when none would.

    Each selected field costs 1 plus its children's cost times the number of
    items it returns: its page size argument, or the page size its parent
    page object was given, or an estimate for an unbounded list. Fragments
    count where they are spread; introspection fields count like any other.
    """
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    return _CostCounter(schema, document, operation, variables or {}).selection_set(
        operation.selection_set, root, None
    )


class _CostCounter:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        coerced = get_variable_values(schema, operation.variable_definitions or (), dict(variables))
        # Variables that do not coerce stop the operation before it runs, so
        # the page sizes they would set never matter.
        self.variables: VariableValues | None = (
            coerced if isinstance(coerced, VariableValues) else None
        )
        # A fragment spread many times over is costed once per page size:
        # without this a few tokens of nested spreads take exponential time.
        self.fragment_costs: dict[tuple[str, int | None], int] = {}
        self.visiting: set[str] = set()

    def selection_set(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, page_size: int | None
    ) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page_size)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                fragment_type = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(
                    selection.selection_set, fragment_type or parent, page_size
                )
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, parent, page_size)
        return total

    def fragment(self, name: str, parent: GraphQLNamedType, page_size: int | None) -> int:
        definition = self.fragments.get(name)
        # Unknown and cyclic spreads fail validation; they add nothing here.
        if definition is None or name in self.visiting:
            return 0
        key = (name, page_size)
        if key not in self.fragment_costs:
            fragment_type = self.schema.get_type(definition.type_condition.name.value)
            self.visiting.add(name)
            self.fragment_costs[key] = self.selection_set(
                definition.selection_set, fragment_type or parent, page_size
            )
            self.visiting.discard(name)
        return self.fragment_costs[key]

    def field(self, node: FieldNode, parent: GraphQLNamedType, parent_page_size: int | None) -> int:
        definition = self._definition(parent, node.name.value)
        if definition is None or node.selection_set is None:
            return 1
        own_page_size = self._page_size(definition, node)
        child_type = get_named_type(definition.type)
        if is_list_type(get_nullable_type(definition.type)):
            items = own_page_size
            if items is None:
                items = parent_page_size
            if items is None:
                items = LIST_SIZE_ESTIMATES.get(f"{parent.name}.{node.name.value}")
            if items is None:
                items = DEFAULT_LIST_SIZE
            return 1 + items * self.selection_set(node.selection_set, child_type, None)
        # A page object (connection, page, analysis) hands its size to its lists.
        return 1 + self.selection_set(node.selection_set, child_type, own_page_size)

    def _definition(self, parent: GraphQLNamedType, name: str) -> GraphQLField | None:
        if name in _META_FIELDS:
            return _META_FIELDS[name]
        fields: Mapping[str, GraphQLField] = getattr(parent, "fields", {})
        return fields.get(name)

    def _page_size(self, definition: GraphQLField, node: FieldNode) -> int | None:
        if not any(name in definition.args for name in PAGE_SIZE_ARGUMENTS):
            return None
        try:
            arguments = get_argument_values(definition, node, self.variables)
        except GraphQLError:
            # The field fails on these arguments; the list estimate errs high.
            return None
        for name in PAGE_SIZE_ARGUMENTS:
            value = arguments.get(name)
            if isinstance(value, int):
                return value if 1 <= value <= MAX_PAGE_ARGUMENT else 0
        return None


class QueryCostLimiter(SchemaExtension):
    """Refuse an operation whose cost (see :func:`query_cost`) is over ``max_cost``.

    The check runs in the validation step, listed after ``ValidationCache`` so
    that it counts a valid document; a refusal is a validation error and no
    resolver runs. It is not a graphql-core validation rule because the cost
    depends on the variables, which those rules do not see and which would
    make ``ValidationCache`` entries wrong.
    """

    def __init__(self, max_cost: int = DEFAULT_MAX_QUERY_COST) -> None:
        self.max_cost = max_cost

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors and context.graphql_document is not None:
            cost = query_cost(
                context.schema._schema,
                context.graphql_document,
                context.variables,
                context.operation_name,
            )
            if cost is not None and cost > self.max_cost:
                context.pre_execution_errors = [self._refusal(cost)]
        yield

    def _refusal(self, cost: int) -> GraphQLError:
        return GraphQLError(
            f"Query cost {cost} exceeds the limit of {self.max_cost}: ask for smaller pages "
            "(first, limit, top) or fewer nested lists.",
            extensions={
                "code": "GRAPHQL_VALIDATION_FAILED",
                "cost": cost,
                "maxCost": self.max_cost,
            },
        )


def shape_limits_rule(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """A validation rule refusing operations nested too deep or with too many aliases.

    It counts as Strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter``
    do, with their messages, but walks each fragment once: they walk it once
    per spread, so 30 fragments that each spread the next twice (500 tokens)
    keep a worker busy for an hour.
    """

    class ShapeLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            counter = _ShapeCounter(document)
            aliases = 0
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                shape = counter.selection_set(definition.selection_set)
                aliases += shape.aliases
                if shape.depth > max_depth:
                    name = definition.name.value if definition.name else "anonymous"
                    message = f"'{name}' exceeds maximum operation depth of {max_depth}"
                    self.report_error(GraphQLError(message, definition))
            if aliases > max_aliases:
                self.report_error(GraphQLError(f"{aliases} aliases found. Allowed: {max_aliases}"))

    return ShapeLimits


class _Shape(NamedTuple):
    depth: int
    aliases: int


class _ShapeCounter:
    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self.shapes: dict[str, _Shape] = {}
        self.visiting: set[str] = set()

    def selection_set(self, selection_set: SelectionSetNode) -> _Shape:
        depth = aliases = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                shape = self.field(selection)
            elif isinstance(selection, InlineFragmentNode):
                shape = self.selection_set(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                shape = self.fragment(selection.name.value)
            else:
                continue
            depth = max(depth, shape.depth)
            aliases += shape.aliases
        return _Shape(depth, aliases)

    def field(self, node: FieldNode) -> _Shape:
        alias = 1 if node.alias else 0
        if node.selection_set is None:
            return _Shape(0, alias)
        inner = self.selection_set(node.selection_set)
        # Introspection nests deeper than any query of data (type > ofType > ...);
        # the cost limit bounds it instead.
        depth = 0 if node.name.value.startswith("__") else 1 + inner.depth
        return _Shape(depth, alias + inner.aliases)

    def fragment(self, name: str) -> _Shape:
        definition = self.fragments.get(name)
        if definition is None or name in self.visiting:
            return _Shape(0, 0)
        if name not in self.shapes:
            self.visiting.add(name)
            self.shapes[name] = self.selection_set(definition.selection_set)
            self.visiting.discard(name)
        return self.shapes[name]


class HideSuggestions(SchemaExtension):
    """Drop the "Did you mean ...?" hints from every error message.

    Strawberry's ``disable_field_suggestions`` drops them only from "Cannot
    query field" errors, but unknown arguments, input fields, enum values and
    types are answered with the same hints, which list schema names a client
    without introspection should not learn.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in (result.errors if result is not None else None) or ():
            error.message = strip_suggestion(error.message)


def strip_suggestion(message: str) -> str:
    hint = message.find(" Did you mean ")
    return message if hint < 0 else message[:hint]
