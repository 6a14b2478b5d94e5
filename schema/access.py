"""API keys and the audit log, for admins."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from analytics.access import Role as RoleValue
from analytics.db import ApiKey as ApiKeyRow
from analytics.db import AuditEntry as AuditEntryRow
from resolvers.access import (
    resolve_api_keys,
    resolve_audit_log,
    resolve_create_api_key,
    resolve_revoke_api_key,
)
from resolvers.context import Context
from schema.permissions import IsAdmin

Role = strawberry.enum(RoleValue, name="Role", description="What a caller may do.")


@strawberry.type(description="An API key; its secret is only ever shown by createApiKey.")
class ApiKey:
    id: strawberry.ID
    name: str
    role: Role  # type: ignore[valid-type]
    datasets: list[strawberry.ID] | None = strawberry.field(
        description="The datasets it may see; null for every dataset."
    )
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: ApiKeyRow) -> ApiKey:
        return cls(
            id=strawberry.ID(row.id),
            name=row.name,
            role=RoleValue(row.role),
            datasets=None if row.datasets is None else [strawberry.ID(d) for d in row.datasets],
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type
class CreateApiKeyPayload:
    key: ApiKey
    secret: str = strawberry.field(
        description="Send it as X-API-Key. Shown this once: only its hash is stored."
    )


@strawberry.type(description="Who did what, to what, with what outcome.")
class AuditEntry:
    id: strawberry.ID
    at: dt.datetime
    actor: str = strawberry.field(description='"key:<id>", "jwt:<subject>", "anonymous" or "cli".')
    role: str | None
    action: str
    target: str | None
    outcome: str = strawberry.field(description="success, denied or failed.")
    status: int | None = strawberry.field(description="The HTTP status, when there is one.")
    ip: str | None
    request_id: str | None
    detail: str | None

    @classmethod
    def from_row(cls, row: AuditEntryRow) -> AuditEntry:
        values = row.model_dump()
        values["id"] = strawberry.ID(str(row.id))
        return cls(**values)


@strawberry.type
class AccessQuery:
    @strawberry.field(
        description="Every API key, revoked ones included.", permission_classes=[IsAdmin]
    )
    async def api_keys(self, info: Info[Context, None]) -> list[ApiKey]:
        return [ApiKey.from_row(row) for row in await resolve_api_keys(info.context)]

    @strawberry.field(description="The newest audit entries first.", permission_classes=[IsAdmin])
    async def audit_log(self, info: Info[Context, None], limit: int = 100) -> list[AuditEntry]:
        return [AuditEntry.from_row(row) for row in await resolve_audit_log(info.context, limit)]


@strawberry.type
class AccessMutation:
    @strawberry.mutation(
        description="Create an API key; omit datasets for a key to every dataset.",
        permission_classes=[IsAdmin],
    )
    async def create_api_key(
        self,
        info: Info[Context, None],
        name: str,
        role: Role,  # type: ignore[valid-type]
        datasets: list[strawberry.ID] | None = None,
    ) -> CreateApiKeyPayload:
        issued = await resolve_create_api_key(
            info.context, name, role, None if datasets is None else [str(d) for d in datasets]
        )
        return CreateApiKeyPayload(key=ApiKey.from_row(issued.key), secret=issued.secret)

    @strawberry.mutation(description="Revoke a key at once.", permission_classes=[IsAdmin])
    async def revoke_api_key(self, info: Info[Context, None], id: strawberry.ID) -> ApiKey:
        return ApiKey.from_row(await resolve_revoke_api_key(info.context, str(id)))
