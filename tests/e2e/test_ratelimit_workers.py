"""Two worker processes of the real server draw on one rate-limit budget in Redis."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from server.ratelimit import database_namespace
from server.settings import Settings
from tests.e2e.test_robot import Server
from tests.server.test_ratelimit import TYPENAME_QUERY, delete_namespace, require_redis

pytestmark = pytest.mark.e2e

WORKERS = 2
_STARTED = re.compile(r"\bstarted\b")


def _wait_for_workers(server: Server, count: int, timeout: float = 90) -> None:
    """Until ``count`` workers have run their startup: /health answers as soon as one has.

    Each worker logs ``started`` with its database at the end of its startup.
    """
    log = server.data_dir / "stdout.log"
    deadline = time.monotonic() + timeout
    while True:
        lines = log.read_text().splitlines()
        if sum(1 for line in lines if _STARTED.search(line) and "database" in line) >= count:
            return
        assert time.monotonic() < deadline, "\n".join(lines[-20:])
        time.sleep(0.2)


def test_workers_share_one_budget(tmp_path: Path) -> None:
    redis_url = require_redis()
    # The server's namespace is derived from its database, here a file in its
    # own data dir: no other run can touch these keys.
    namespace = database_namespace(Settings(data_dir=tmp_path, database_url=None))
    delete_namespace(namespace)
    server = Server(tmp_path)
    server.env.update(
        SALESCOPE_WORKERS=str(WORKERS),
        SALESCOPE_REDIS_URL=redis_url,
        SALESCOPE_RATE_LIMIT_ANONYMOUS="60/minute",
    )
    server.start()
    try:
        _wait_for_workers(server, WORKERS)
        # A new connection per request, so the kernel hands them to both workers.
        responses = [
            httpx.post(f"{server.url}/graphql", json={"query": TYPENAME_QUERY}, timeout=10)
            for _ in range(61)
        ]
    finally:
        server.stop()
        delete_namespace(namespace)

    assert [response.status_code for response in responses] == [200] * 60 + [429]
    assert [response.headers["x-ratelimit-remaining"] for response in responses[:60]] == [
        str(remaining) for remaining in range(59, -1, -1)
    ]
    refusal = responses[60].json()["errors"][0]
    assert refusal["message"].startswith("rate limit exceeded: 60/minute; retry in ")
    assert refusal["extensions"]["code"] == "RATE_LIMITED"
