from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from analytics import drift
from resolvers.context import Context
from resolvers.drift import DriftCheck, resolve_drift
from schema._utils import convert
from schema.scalars import JSON

DriftFeatureKind = strawberry.enum(drift.FeatureKind, name="DriftFeatureKind")
DriftTest = strawberry.enum(
    drift.DriftTest,
    description="KS and CHI_SQUARE for a reference of at most 1000 rows, WASSERSTEIN "
    "(normalised by the reference's standard deviation) and JENSEN_SHANNON (base 2) beyond.",
)
DriftReferenceKind = strawberry.enum(drift.ReferenceKind, name="DriftReferenceKind")


@strawberry.type(description="One customer feature compared with the reference.")
class FeatureDrift:
    feature: str
    kind: DriftFeatureKind  # type: ignore[valid-type]
    test: DriftTest | None = strawberry.field(  # type: ignore[valid-type]
        description="Null when the feature could not be compared (see reason)."
    )
    statistic: float | None = strawberry.field(
        description="KS or chi-square statistic, or the distance."
    )
    p_value: float | None = strawberry.field(description="For KS and CHI_SQUARE.")
    distance: float | None = strawberry.field(description="For WASSERSTEIN and JENSEN_SHANNON.")
    threshold: float = strawberry.field(
        description="Drifted when the p-value is below it, or the distance at or above it."
    )
    drifted: bool
    reference_count: int = strawberry.field(description="Non-missing values in the reference.")
    current_count: int = strawberry.field(description="Non-missing values in the dataset.")
    reference_missing_share: float
    current_missing_share: float
    reason: str | None = strawberry.field(description="Why the feature was not compared.")


@strawberry.type(description="A dataset's customer features compared with a reference.")
class DriftReport:
    dataset: strawberry.ID
    reference: strawberry.ID
    reference_kind: DriftReferenceKind  # type: ignore[valid-type]
    drifted: bool = strawberry.field(description="At least half of the tested features drifted.")
    drifted_share: float = strawberry.field(description="Share of tested features that drifted.")
    drifted_count: int
    tested_count: int
    reference_rows: int = strawberry.field(
        description="Rows (customers) of the reference; at most 1000 selects the tests."
    )
    current_rows: int
    features: list[FeatureDrift]
    missing_features: list[str] = strawberry.field(
        description="Features of the reference the dataset lacks (not compared)."
    )
    new_features: list[str] = strawberry.field(
        description="Features of the dataset the reference lacks (not compared)."
    )
    alert_sent: bool = strawberry.field(
        description="An alert email went out for this drift (by this query or an earlier one "
        "for the same versions). False when alerts are not configured or nothing drifted."
    )
    alert_error: str | None = strawberry.field(
        description="Why the alert email could not be sent; the query succeeds regardless."
    )
    figure: JSON

    @classmethod
    def from_check(cls, check: DriftCheck) -> DriftReport:
        report = check.report
        result = report.result
        return convert(
            cls,
            result,
            dataset=strawberry.ID(report.dataset_id),
            reference=strawberry.ID(report.reference_id),
            reference_kind=report.reference_kind,
            features=[convert(FeatureDrift, feature) for feature in result.features],
            missing_features=list(result.missing_features),
            new_features=list(result.new_features),
            alert_sent=check.alert_sent,
            alert_error=check.alert_error,
        )


@strawberry.type
class DriftQuery:
    @strawberry.field(
        description="Compare a dataset's customer feature distributions with a reference: "
        "a model version (its training features) or another dataset."
    )
    async def drift(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID,
        reference: Annotated[
            strawberry.ID, strawberry.argument(description="A model version id or a dataset id.")
        ],
    ) -> DriftReport:
        return DriftReport.from_check(await resolve_drift(info.context, dataset, reference))
