from __future__ import annotations

from collections.abc import Sequence

from analytics.access import IssuedKey, Role, create_api_key, list_api_keys, revoke_api_key
from analytics.audit import list_audit
from analytics.db import ApiKey, AuditEntry
from resolvers._utils import off_loop
from resolvers.context import Context


async def resolve_api_keys(context: Context) -> list[ApiKey]:
    return await off_loop(list_api_keys, context.store.engine)


async def resolve_create_api_key(
    context: Context, name: str, role: Role, datasets: Sequence[str] | None
) -> IssuedKey:
    return await off_loop(create_api_key, context.store.engine, name, role, datasets)


async def resolve_revoke_api_key(context: Context, key_id: str) -> ApiKey:
    return await off_loop(revoke_api_key, context.store.engine, key_id)


async def resolve_audit_log(context: Context, limit: int) -> list[AuditEntry]:
    return await off_loop(list_audit, context.store.engine, limit)
