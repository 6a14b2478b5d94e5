from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from analytics.db import ModelVersion
from analytics.models import get_model_version, list_model_versions
from analytics.segmentation import (
    CustomerFeatures,
    CustomerSegmentResult,
    SegmentAssignmentResult,
    SegmentationMethod,
    SegmentationResult,
    predict_segments,
    segment_dataset,
    train_segmentation_model,
)
from resolvers._utils import off_loop, once_per_request
from resolvers.context import Context


def _model_dir(context: Context) -> Path:
    if context.model_dir is None:
        raise RuntimeError("this context has no model directory")
    return context.model_dir


async def resolve_segments(
    context: Context, dataset: str | None, method: SegmentationMethod
) -> SegmentationResult:
    dataset_id = context.dataset_id(dataset)
    return await once_per_request(
        context,
        ("segments", dataset_id, method),
        segment_dataset,
        context.store,
        dataset_id,
        method,
        model_dir=context.model_dir,
        timeout=context.training_timeout,
    )


async def resolve_customer_segment(
    context: Context, dataset_id: str, customer_id: str, method: SegmentationMethod
) -> CustomerSegmentResult | None:
    """The segment of one customer (by source id); ``None`` when the customer is not segmented.

    The dataset's segmentation is computed once per request however many
    customers ask, and cached per dataset version across requests.
    """
    result = await resolve_segments(context, dataset_id, method)
    return result.segment_of(customer_id)


async def resolve_models(
    context: Context, dataset: str | None, kind: str | None
) -> list[ModelVersion]:
    dataset_id = context.dataset_id(dataset) if dataset else None
    models = await off_loop(
        list_model_versions, context.store.engine, dataset_id=dataset_id, kind=kind
    )
    return [model for model in models if context.principal.can_see(model.dataset_id)]


async def resolve_train_segmentation_model(
    context: Context, dataset: str | None, method: SegmentationMethod
) -> ModelVersion:
    return await off_loop(
        train_segmentation_model,
        context.store,
        _model_dir(context),
        context.dataset_id(dataset),
        method,
        timeout=context.training_timeout,
    )


async def resolve_predict_segments(
    context: Context, model_id: str, customers: Sequence[CustomerFeatures]
) -> tuple[SegmentAssignmentResult, ...]:
    model = await off_loop(get_model_version, context.store.engine, model_id)
    context.require_dataset(model.dataset_id)
    return await off_loop(predict_segments, context.store, _model_dir(context), model_id, customers)
