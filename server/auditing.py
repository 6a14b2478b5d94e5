"""Audit records written by the HTTP layer: refused requests and REST changes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from anyio import to_thread
from sqlalchemy.engine import Engine
from starlette.types import Scope

from analytics.audit import DENIED, AuditEvent, record_audit_or_log
from server.auth import principal_of

if TYPE_CHECKING:
    from server.ratelimit import RateDecision


class Auditor:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def record(
        self,
        scope: Scope,
        action: str,
        outcome: str,
        *,
        status: int | None = None,
        target: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Write one entry; a failing audit write is logged, never turned into a 500."""
        event = AuditEvent.by(
            principal_of(scope),
            action,
            outcome,
            target=target,
            status=status,
            ip=client_ip(scope),
            request_id=scope.get("state", {}).get("request_id"),
            detail=detail,
        )
        await to_thread.run_sync(record_audit_or_log, self.engine, event)

    async def denied(self, scope: Scope, status: int, reason: str) -> None:
        """The denial hook of the auth, CSRF and rate-limit layers."""
        await self.record(
            scope,
            _request_action(scope),
            DENIED,
            status=status,
            target=scope["path"],
            detail=reason,
        )

    async def rate_limited(self, scope: Scope, decision: RateDecision) -> None:
        await self.denied(scope, 429, f"rate limit exceeded: {decision.limit}")


def client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def _request_action(scope: Scope) -> str:
    if scope["type"] == "websocket":
        return f"WEBSOCKET {scope['path']}"
    return f"{scope.get('method', 'GET')} {scope['path']}"
