"""A UiPath-style robot against the real server: multipart upload, poll, read the results."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

# Multipart posts need it: the CSRF guard refuses form-like requests without it.
CSRF_HEADER = {"X-Requested-With": "salescope"}
HEADER = ["InvoiceNo", "InvoiceDate", "CustomerID", "StockCode", "Quantity", "UnitPrice"]


def _rows(count: int) -> list[list[Any]]:
    return [
        [
            f"INV{i // 3}",
            f"2024-{1 + (i // 3) % 12:02d}-{1 + i % 28:02d}",
            f"C{(i // 3) % 97}",
            f"SKU{i % 13}",
            1 + i % 4,
            round(2.5 + (i % 7), 2),
        ]
        for i in range(count)
    ]


def _csv(rows: list[list[Any]]) -> str:
    lines = [",".join(HEADER)] + [",".join(str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.executable = shutil.which("salescope", path=str(Path(sys.executable).parent))
        assert self.executable
        self.process: subprocess.Popen[bytes] | None = None
        self.args: list[str] = []  # more `salescope serve` arguments
        self.log: Any = None
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SALESCOPE_DATA_DIR": str(data_dir),
            "SALESCOPE_JOB_STALE_AFTER": "2",
            # Robots poll; the limit itself is tested in tests/e2e/test_ratelimit_workers.py.
            "SALESCOPE_RATE_LIMIT_ANONYMOUS": "100000/minute",
        }
        self.env.pop("SALESCOPE_DATABASE_URL", None)

    def start(self) -> None:
        self._close_log()
        self.log = (self.data_dir / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            [self.executable, "serve", "--port", str(self.port), *self.args],  # type: ignore[list-item]
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, (self.data_dir / "stdout.log").read_text()[-2000:]
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self._close_log()

    def _close_log(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None


def _poll(url: str, file_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = httpx.get(f"{url}/analysis/{file_id}", timeout=10).json()
        if body["analysis"]["status"] != "processing":
            return body
        assert time.monotonic() < deadline, f"still processing: {body['analysis']}"
        time.sleep(1)  # as a robot polls


def _upload(url: str, name: str, content: bytes) -> str:
    response = httpx.post(
        f"{url}/upload", files={"file": (name, content)}, headers=CSRF_HEADER, timeout=60
    )
    assert response.status_code == 200, response.text
    return str(response.json()["file_id"])


def test_csv_and_xlsx_give_the_cli_numbers(server: Server, tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    rows = _rows(600)
    csv_path = tmp_path / "export.csv"
    csv_path.write_text(_csv(rows))
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    xlsx_path = tmp_path / "export.xlsx"
    workbook.save(xlsx_path)

    csv_id = _upload(server.url, "export.csv", csv_path.read_bytes())
    xlsx_id = _upload(server.url, "export.xlsx", xlsx_path.read_bytes())
    from_csv = _poll(server.url, csv_id)
    from_xlsx = _poll(server.url, xlsx_id)

    subprocess.run(
        [server.executable, "import", str(csv_path), "--dataset", "cli"],  # type: ignore[list-item]
        env=server.env,
        check=True,
        capture_output=True,
    )
    query = '{ kpis(dataset: "cli") { totalRevenue orderCount totalCustomers averageOrderValue } }'
    cli = httpx.post(f"{server.url}/graphql", json={"query": query}, timeout=30).json()
    cli_kpis = cli["data"]["kpis"]
    for body in (from_csv, from_xlsx):
        assert body["analysis"]["status"] == "completed", body
        kpis = body["analysis"]["results"]["kpis"]["data"]
        assert kpis["total_revenue"] == pytest.approx(cli_kpis["totalRevenue"])
        assert kpis["order_count"] == cli_kpis["orderCount"]
        assert kpis["total_customers"] == cli_kpis["totalCustomers"]
        assert kpis["average_order_value"] == pytest.approx(cli_kpis["averageOrderValue"])


def test_a_job_interrupted_by_a_crash_is_resumed_after_restart(server: Server) -> None:
    content = _csv(_rows(300_000)).encode()  # a few seconds of import: time to crash mid-job

    file_id = _upload(server.url, "big.csv", content)
    deadline = time.monotonic() + 30
    while httpx.get(f"{server.url}/analysis/{file_id}").json()["analysis"]["stage"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    server.kill()
    server.start()

    body = _poll(server.url, file_id)

    assert body["analysis"]["status"] in ("completed", "failed")
    if body["analysis"]["status"] == "completed":
        assert body["analysis"]["import"]["rows_imported"] == 300_000
    else:
        assert body["analysis"]["error"]
