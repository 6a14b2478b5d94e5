from __future__ import annotations

import pytest

from tests.schema.conftest import Execute


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (
            "query($m: SegmentationMethod!) { segments(method: $m) { customerCount } }",
            {"m": "KMEAN"},
            "Variable '$m' has invalid value: Value 'KMEAN' does not exist",
        ),
        (
            "query($d: Date) { rfm(asOf: $d) { customerCount } }",
            {"d": "2024-13-45"},
            "Variable '$d' has invalid value: Value cannot represent a Date",
        ),
        (
            "query($f: Int) { customers(first: $f) { totalCount } }",
            {"f": "abc"},
            "Variable '$f' has invalid value: Int cannot represent non-integer value",
        ),
    ],
)
async def test_bad_variables_are_the_callers_mistake(
    execute: Execute, query: str, variables: dict[str, object], message: str
) -> None:
    result = await execute(query, variables, errors=True)

    error = result["errors"][0]
    assert error["message"].startswith(message)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
