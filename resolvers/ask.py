from __future__ import annotations

from analytics.ask.service import AskResult, load_conversation
from resolvers._utils import off_loop
from resolvers.context import Context


async def resolve_ask_ai(
    context: Context, question: str, dataset: str | None, conversation_id: str | None
) -> AskResult:
    """Answer off the loop; a follow-up naming no dataset stays on its conversation's."""
    if conversation_id and not dataset:
        # A follow-up stays on its conversation's dataset, if the caller may still see it.
        conversation = await off_loop(
            load_conversation, context.store.engine, conversation_id, context.caller
        )
        dataset_id = context.require_dataset(conversation.dataset_id)
    else:
        dataset_id = context.dataset_id(dataset)
    return await off_loop(
        context.ask_service.ask,
        context.store,
        dataset_id,
        question,
        conversation_id=conversation_id,
        caller=context.caller,
    )
