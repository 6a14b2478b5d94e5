from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from analytics.audit import AuditEvent, list_audit, record_audit
from analytics.errors import InvalidArgumentError


def test_entries_come_back_newest_first_with_every_field(engine: Engine) -> None:
    record_audit(engine, AuditEvent(actor="key:a", action="upload", outcome="success"))
    record_audit(
        engine,
        AuditEvent(
            actor="jwt:bob",
            role="viewer",
            action="POST /upload",
            outcome="denied",
            target="/upload",
            status=403,
            ip="10.0.0.7",
            request_id="r-1",
            detail="needs analyst",
        ),
    )

    newest, oldest = list_audit(engine, 10)

    assert (oldest.actor, oldest.action, oldest.outcome) == ("key:a", "upload", "success")
    assert newest.model_dump(exclude={"id", "at"}) == {
        "actor": "jwt:bob",
        "role": "viewer",
        "action": "POST /upload",
        "target": "/upload",
        "outcome": "denied",
        "status": 403,
        "ip": "10.0.0.7",
        "request_id": "r-1",
        "detail": "needs analyst",
    }
    assert newest.at >= oldest.at
    assert [entry.id for entry in list_audit(engine, 1)] == [newest.id]


def test_long_texts_are_cut_to_fit(engine: Engine) -> None:
    record_audit(engine, AuditEvent(actor="x", action="a", outcome="failed", detail="d" * 2000))
    assert len(list_audit(engine, 1)[0].detail or "") == 500


@pytest.mark.parametrize("limit", [0, 1001, -5])
def test_limit_is_bounded(sqlite_engine: Engine, limit: int) -> None:
    with pytest.raises(InvalidArgumentError, match="limit: expected a whole number from 1 to 1000"):
        list_audit(sqlite_engine, limit)
