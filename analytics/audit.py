"""The audit log: every change and every refused request, who, what, when, from where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from analytics.access import Principal
from analytics.db import AuditEntry
from analytics.errors import InvalidArgumentError

logger = structlog.get_logger("salescope.audit")

SUCCESS = "success"
DENIED = "denied"
FAILED = "failed"
MAX_AUDIT_ENTRIES = 1000


@dataclass(frozen=True)
class AuditEvent:
    actor: str
    action: str
    outcome: str
    role: str | None = None
    target: str | None = None
    status: int | None = None
    ip: str | None = None
    request_id: str | None = None
    detail: str | None = None

    @classmethod
    def by(cls, principal: Principal, action: str, outcome: str, **details: Any) -> AuditEvent:
        """An event of ``principal``; its role is recorded only when it authenticated."""
        role = principal.role.value if principal.authenticated else None
        return cls(actor=principal.subject, role=role, action=action, outcome=outcome, **details)


def record_audit_or_log(engine: Engine, event: AuditEvent) -> None:
    """``record_audit`` for requests: a failed write is logged, never raised, so the
    request's own outcome stands."""
    try:
        record_audit(engine, event)
    except Exception:
        logger.exception("writing the audit log failed", action=event.action)


def record_audit(engine: Engine, event: AuditEvent) -> None:
    """Append ``event``; long texts are cut to their column so recording never fails on them."""
    entry = AuditEntry(
        actor=_cut(event.actor, 160) or "",
        role=event.role,
        action=_cut(event.action, 100) or "",
        target=_cut(event.target, 300),
        outcome=event.outcome,
        status=event.status,
        ip=_cut(event.ip, 64),
        request_id=event.request_id,
        detail=_cut(event.detail, 500),
    )
    values = entry.model_dump(exclude={"id"})
    with engine.begin() as conn:
        conn.execute(sa.insert(AuditEntry).values(**values))
    logger.info("audit", **{name: value for name, value in values.items() if name != "at"})


def list_audit(engine: Engine, limit: int = 100) -> list[AuditEntry]:
    """The newest ``limit`` entries, newest first."""
    if not 1 <= limit <= MAX_AUDIT_ENTRIES:
        raise InvalidArgumentError(
            f"limit: expected a whole number from 1 to {MAX_AUDIT_ENTRIES}, got {limit}"
        )
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.id.desc()).limit(limit)).all()
    return [AuditEntry.model_validate(row._mapping) for row in rows]


def _cut(text: str | None, length: int) -> str | None:
    if text is None or len(text) <= length:
        return text
    return text[: length - 1] + "…"
