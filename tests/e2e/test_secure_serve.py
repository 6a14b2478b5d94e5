"""A real server that requires authentication, with keys made by the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_robot import Server

pytestmark = pytest.mark.e2e

KPIS = {"query": "{ kpis { totalRevenue } }"}
CSV = b"customer,date,amount\nC1,2024-01-01,10\nC2,2024-02-01,30\n"


def _salescope(server: Server, *args: str) -> str:
    assert server.executable
    done = subprocess.run(
        [server.executable, *args], env=server.env, capture_output=True, text=True, check=True
    )
    return done.stdout


def _new_key(server: Server, role: str, *datasets: str) -> str:
    scope = [arg for dataset in datasets for arg in ("--dataset", dataset)]
    out = _salescope(server, "keys", "create", "--name", f"e2e {role}", "--role", role, *scope)
    return out.strip().splitlines()[-1]


def test_listening_beyond_loopback_requires_keys(tmp_path: Path) -> None:
    server = Server(tmp_path)
    server.args = ["--host", "0.0.0.0"]
    server.start()
    try:
        _salescope(server, "demo", "--customers", "30")
        admin = _new_key(server, "admin")
        viewer = _new_key(server, "viewer", "demo")
        url = server.url

        assert httpx.get(f"{url}/health").status_code == 200
        refused = httpx.post(f"{url}/graphql", json=KPIS)
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        # Beyond loopback, introspection is off unless switched on.
        introspect = httpx.post(
            f"{url}/graphql",
            json={"query": "{ __schema { types { name } } }"},
            headers={"X-API-Key": viewer},
        ).json()
        assert "introspection" in introspect["errors"][0]["message"].lower()

        answered = httpx.post(f"{url}/graphql", json=KPIS, headers={"X-API-Key": viewer})
        assert answered.status_code == 200
        assert answered.json()["data"]["kpis"]["totalRevenue"] > 0

        upload = httpx.post(
            f"{url}/upload",
            files={"file": ("robot.csv", CSV)},
            headers={"X-API-Key": viewer, "X-Requested-With": "robot"},
        )
        assert upload.status_code == 403

        key_id = viewer.split("_")[1]
        _salescope(server, "keys", "revoke", key_id)
        assert httpx.post(
            f"{url}/graphql", json=KPIS, headers={"X-API-Key": viewer}
        ).status_code == (401)

        entries = httpx.get(f"{url}/audit/logs?limit=20", headers={"X-API-Key": admin}).json()[
            "entries"
        ]
        seen = {(entry["action"], entry["outcome"], entry["status"]) for entry in entries}
        assert ("POST /graphql", "denied", 401) in seen
        assert ("POST /upload", "denied", 403) in seen
        assert ("keys.revoke", "success", None) in seen
    finally:
        server.stop()
