from __future__ import annotations

from typing import Any, TypeVar

from strawberry.types.base import get_object_definition

T = TypeVar("T")


def convert(cls: type[T], source: Any, **overrides: Any) -> T:
    """Build a Strawberry type from a result object whose attributes share its field names.

    Fields computed by resolvers are skipped; ``overrides`` supplies nested or
    renamed values.
    """
    definition = get_object_definition(cls, strict=True)
    values = {
        field.python_name: overrides.get(
            field.python_name, getattr(source, field.python_name, None)
        )
        for field in definition.fields
        if field.base_resolver is None
    }
    return cls(**values)
