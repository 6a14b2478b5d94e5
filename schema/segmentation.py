from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, cast

import strawberry
from strawberry.types import Info

from analytics import db, segmentation
from analytics.errors import InvalidArgumentError
from resolvers.context import Context
from resolvers.segmentation import (
    resolve_models,
    resolve_predict_segments,
    resolve_segments,
    resolve_train_segmentation_model,
)
from schema.permissions import IsAnalyst
from schema.scalars import JSON

MAX_ASSIGNMENTS_PAGE = 1000

SegmentationMethod = strawberry.enum(
    segmentation.SegmentationMethod,
    description="RFM: the named R/F-grid segments; KMEANS and DBSCAN: clusters of the "
    "scaled log RFM values and numeric customer attributes.",
)


@strawberry.type(description="A feature's mean over a segment's customers.")
class FeatureMean:
    name: str
    mean: float | None


@strawberry.type(description="One segment and what its customers look like on average.")
class SegmentProfile:
    id: strawberry.ID = strawberry.field(
        description='Cluster number ("-1" is DBSCAN noise) or RFM segment name.'
    )
    label: str = strawberry.field(description='A human label, e.g. "High value, recent".')
    size: int
    share: float = strawberry.field(description="Share of the segmented customers, 0..1.")
    mean_recency: float | None = strawberry.field(description="Days.")
    mean_frequency: float | None
    mean_monetary: float | None
    revenue_share: float | None = strawberry.field(description="Share of the revenue, 0..1.")
    feature_means: list[FeatureMean]

    @classmethod
    def from_result(cls, profile: segmentation.SegmentProfile) -> SegmentProfile:
        return cls(
            id=strawberry.ID(profile.segment_id),
            label=profile.label,
            size=profile.size,
            share=profile.share,
            mean_recency=profile.mean_recency,
            mean_frequency=profile.mean_frequency,
            mean_monetary=profile.mean_monetary,
            revenue_share=profile.revenue_share,
            feature_means=[FeatureMean(name=n, mean=m) for n, m in profile.feature_means],
        )


@strawberry.type(description="A customer's segment.")
class SegmentAssignment:
    customer_id: strawberry.ID | None
    segment_id: strawberry.ID
    label: str


@strawberry.type(description="A customer's segment by one method.")
class CustomerSegment:
    segment_id: strawberry.ID
    label: str
    method: SegmentationMethod  # type: ignore[valid-type]
    model_id: strawberry.ID | None = strawberry.field(
        description="The stored model that assigned it; null when fitted on the fly or RFM."
    )

    @classmethod
    def from_result(cls, result: segmentation.CustomerSegmentResult) -> CustomerSegment:
        return cls(
            segment_id=strawberry.ID(result.segment_id),
            label=result.label,
            method=result.method,
            model_id=None if result.model_id is None else strawberry.ID(result.model_id),
        )


@strawberry.type
class SegmentAssignmentPage:
    total_count: int
    offset: int
    items: list[SegmentAssignment]


@strawberry.type(description="A dataset's customers split into segments by one method.")
class Segmentation:
    result: strawberry.Private[segmentation.SegmentationResult]
    dataset: strawberry.ID
    dataset_version: int
    method: SegmentationMethod  # type: ignore[valid-type]
    model_id: strawberry.ID | None = strawberry.field(
        description="The stored model used (the latest trained on this dataset version); "
        "null when the model was fitted on the fly, and for RFM."
    )
    model_version: int | None
    customer_count: int = strawberry.field(description="Customers segmented.")
    features: list[str]
    segments: list[SegmentProfile] = strawberry.field(description="Largest first; noise last.")
    silhouette: float | None = strawberry.field(
        description="Mean silhouette of the clusters, -1..1 (noise excluded); null for RFM."
    )
    metrics: JSON = strawberry.field(description="Cluster sizes, silhouette by k, noise...")
    params: JSON = strawberry.field(description="k, eps, min_samples and how they were chosen.")

    @classmethod
    def from_result(cls, result: segmentation.SegmentationResult) -> Segmentation:
        return cls(
            result=result,
            dataset=strawberry.ID(result.dataset_id),
            dataset_version=result.dataset_version,
            method=result.method,
            model_id=None if result.model_id is None else strawberry.ID(result.model_id),
            model_version=result.model_version,
            customer_count=result.customer_count,
            features=list(result.features),
            segments=[SegmentProfile.from_result(s) for s in result.segments],
            silhouette=result.silhouette,
            metrics=cast(JSON, result.metrics),
            params=cast(JSON, result.params),
        )

    @strawberry.field(description="The segmented customers and their segments, a page at a time.")
    def customers(
        self,
        first: Annotated[int, strawberry.argument(description="1..1000")] = 100,
        offset: int = 0,
        segment_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this segment.")
        ] = None,
    ) -> SegmentAssignmentPage:
        if not 1 <= first <= MAX_ASSIGNMENTS_PAGE:
            raise InvalidArgumentError(f"first: expected 1..{MAX_ASSIGNMENTS_PAGE}, got {first}")
        if offset < 0:
            raise InvalidArgumentError(f"offset: expected 0 or more, got {offset}")
        rows = self.result.customers
        if segment_id is not None:
            rows = rows.loc[rows["segment_id"] == str(segment_id)]
        page = rows.iloc[offset : offset + first]
        return SegmentAssignmentPage(
            total_count=len(rows),
            offset=offset,
            items=[
                SegmentAssignment(
                    customer_id=strawberry.ID(str(row.external_id)),
                    segment_id=strawberry.ID(str(row.segment_id)),
                    label=str(row.label),
                )
                for row in page.itertuples()
            ],
        )

    @strawberry.field(description="Scatter of recency vs monetary (log) coloured by segment.")
    def figure(self) -> JSON:
        return self.result.figure  # type: ignore[return-value]

    @strawberry.field(description="Bar chart of customers per segment.")
    def size_figure(self) -> JSON:
        return self.result.size_figure  # type: ignore[return-value]


@strawberry.type(name="ModelVersion", description="A trained model stored in the registry.")
class ModelVersionType:
    id: strawberry.ID
    dataset_id: strawberry.ID = strawberry.field(description="The dataset it was trained on.")
    dataset_version: int
    kind: str = strawberry.field(description='"segmentation", "churn"...')
    method: str = strawberry.field(description='"kmeans", "dbscan"...')
    version: int = strawberry.field(description="1, 2... per dataset, kind and method.")
    params: JSON
    features: list[str]
    metrics: JSON = strawberry.field(description="Silhouette, cluster sizes, AUC...")
    fingerprint: str = strawberry.field(description="SHA-256 of the training feature table.")
    reference_rows: int | None = strawberry.field(
        description="Training rows summarised in the stored reference distribution (for drift)."
    )
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: db.ModelVersion) -> ModelVersionType:
        rows: Any = (row.reference or {}).get("rows")
        return cls(
            id=strawberry.ID(row.id),
            dataset_id=strawberry.ID(row.dataset_id),
            dataset_version=row.dataset_version,
            kind=row.kind,
            method=row.method,
            version=row.version,
            params=cast(JSON, row.params),
            features=list(row.features),
            metrics=cast(JSON, row.metrics),
            fingerprint=row.fingerprint,
            reference_rows=None if rows is None else int(rows),
            created_at=row.created_at,
        )


@strawberry.input(description="A customer to assign to a model's segments.")
class CustomerFeaturesInput:
    customer_id: strawberry.ID | None = strawberry.field(
        default=None, description="Echoed back in the assignment."
    )
    recency: float | None = strawberry.field(default=None, description="Days since last order.")
    frequency: float | None = strawberry.field(default=None, description="Orders.")
    monetary: float | None = strawberry.field(default=None, description="Revenue.")
    tenure: float | None = strawberry.field(default=None, description="Days since first order.")
    satisfaction_score: float | None = None
    attributes: JSON | None = strawberry.field(
        default=None, description="Other numeric features by name, e.g. {monthly_charges: 70}."
    )

    def to_features(self, index: int) -> segmentation.CustomerFeatures:
        attributes: Any = self.attributes
        if attributes is not None and not isinstance(attributes, dict):
            raise InvalidArgumentError(
                f"customers[{index}].attributes: expected an object of numbers by name"
            )
        return segmentation.customer_features(
            index,
            None if self.customer_id is None else str(self.customer_id),
            {
                "recency": self.recency,
                "frequency": self.frequency,
                "monetary": self.monetary,
                "tenure": self.tenure,
                "satisfaction_score": self.satisfaction_score,
            },
            attributes,
        )


@strawberry.type
class SegmentationQuery:
    @strawberry.field(description="Customer segments by RFM rules, K-means or DBSCAN.")
    async def segments(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        *,
        method: SegmentationMethod,  # type: ignore[valid-type]
    ) -> Segmentation:
        return Segmentation.from_result(await resolve_segments(info.context, dataset, method))

    @strawberry.field(description="Stored model versions, newest first.")
    async def models(
        self,
        info: Info[Context, None],
        dataset: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this dataset's.")
        ] = None,
        kind: Annotated[
            str | None, strawberry.argument(description='Only this kind, e.g. "segmentation".')
        ] = None,
    ) -> list[ModelVersionType]:
        rows = await resolve_models(info.context, None if dataset is None else str(dataset), kind)
        return [ModelVersionType.from_row(row) for row in rows]


@strawberry.type
class SegmentationMutation:
    @strawberry.mutation(
        description="Fit a K-means or DBSCAN model on a dataset and store it as a new version.",
        permission_classes=[IsAnalyst],
    )
    async def train_segmentation_model(
        self,
        info: Info[Context, None],
        dataset: strawberry.ID | None = None,
        *,
        method: SegmentationMethod,  # type: ignore[valid-type]
    ) -> ModelVersionType:
        row = await resolve_train_segmentation_model(info.context, dataset, method)
        return ModelVersionType.from_row(row)

    @strawberry.mutation(
        description="Assign customers (at most 10,000) to the segments of a stored model. "
        "Features the model was trained on are required, except those some training "
        "customers lacked (params.optional_features), which are imputed with the median.",
        permission_classes=[IsAnalyst],
    )
    async def predict_segments(
        self,
        info: Info[Context, None],
        model_id: strawberry.ID,
        customers: list[CustomerFeaturesInput],
    ) -> list[SegmentAssignment]:
        features = [customer.to_features(index) for index, customer in enumerate(customers)]
        assignments = await resolve_predict_segments(info.context, str(model_id), features)
        return [
            SegmentAssignment(
                customer_id=None if a.customer_id is None else strawberry.ID(a.customer_id),
                segment_id=strawberry.ID(a.segment_id),
                label=a.label,
            )
            for a in assignments
        ]
