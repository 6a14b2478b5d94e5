"""The REST routes robots use, through the real ASGI app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from analytics.db import get_dataset
from analytics.errors import DatasetNotFoundError
from analytics.frames import load_frames
from analytics.kpis import compute_kpis
from server.app import create_app
from server.settings import Settings

# Multipart posts need it: the CSRF guard refuses form-like requests without it.
CSRF_HEADER = {"X-Requested-With": "salescope"}
SALES_CSV = (
    "InvoiceNo,InvoiceDate,CustomerID,StockCode,Description,Quantity,UnitPrice,Country\n"
    "1001,2024-01-05,C1,A1,Widget,2,10.00,UK\n"
    "1001,2024-01-05,C1,B2,Gadget,1,5.50,UK\n"
    "1002,2024-02-10,C2,A1,Widget,3,10.00,France\n"
    "1003,2024-03-15,C1,B2,Gadget,4,5.50,UK\n"
    "1004,2024-03-20,C3,A1,Widget,1,10.00,Spain\n"
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, max_upload_bytes=200_000, job_stale_after=5)


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


def _upload(
    client: TestClient, content: bytes | str, filename: str = "sales.csv", **fields: str
) -> Any:
    data = content.encode() if isinstance(content, str) else content
    return client.post(
        "/upload", files={"file": (filename, data)}, data=fields, headers=CSRF_HEADER
    )


def _poll(client: TestClient, file_id: str, timeout: float = 20) -> dict[str, Any]:
    """Poll as a robot would until the analysis leaves 'processing'."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/analysis/{file_id}").json()
        if body["analysis"]["status"] != "processing":
            return body
        assert 0 <= body["analysis"]["progress"] <= 1
        assert time.monotonic() < deadline, "analysis stuck in processing"
        time.sleep(0.05)


def test_upload_poll_and_find_the_cli_numbers(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    response = _upload(client, SALES_CSV)

    assert response.status_code == 200, response.text
    accepted = response.json()
    file_id = accepted["file_id"]
    assert accepted["success"] is True
    assert accepted["analysis_url"] == f"/analysis/{file_id}"
    assert accepted["file_info"]["original_name"] == "sales.csv"
    assert accepted["file_info"]["filename"] != "sales.csv"
    assert accepted["rows"] == {"read": 5, "to_import": 5, "rejected": 0, "first_rejections": []}

    body = _poll(client, file_id)

    assert body["success"] is True
    analysis = body["analysis"]
    assert (analysis["status"], analysis["progress"]) == ("completed", 1.0)
    assert analysis["import"]["rows_imported"] == 5
    kpis = analysis["results"]["kpis"]["data"]
    # 20 + 5.5 + 30 + 22 + 10 = 87.5 over 4 invoices.
    assert kpis["total_revenue"] == pytest.approx(87.5)
    assert kpis["order_count"] == 4
    dataset = get_dataset(engine, file_id)
    expected = compute_kpis(load_frames(engine, file_id, dataset.version))
    assert kpis["average_order_value"] == pytest.approx(expected.average_order_value)
    sales = analysis["results"]["sales"]
    assert sales["success"] is True
    assert sales["data"]["top10_products"][0]["sku"] == "A1"
    assert analysis["results"]["churn"]["success"] is False  # 3 customers: too few to model
    assert "at least 20" in analysis["results"]["churn"]["error"]
    document = client.get("/openapi.json").json()
    jsonschema.validate(body, {**document["components"]["schemas"]["AnalysisResponse"], **document})
    assert (settings.upload_dir / accepted["file_info"]["filename"]).is_file()

    listing = client.get("/analysis").json()
    assert [item["file_id"] for item in listing["analyses"]] == [file_id]


def test_delete_removes_dataset_file_and_results(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    file_id = _upload(client, SALES_CSV).json()["file_id"]
    _poll(client, file_id)

    response = client.delete(f"/analysis/{file_id}")

    assert response.status_code == 200
    assert client.get(f"/analysis/{file_id}").status_code == 404
    with pytest.raises(DatasetNotFoundError):
        get_dataset(engine, file_id)
    assert list(settings.upload_dir.iterdir()) == []
    assert client.delete(f"/analysis/{file_id}").status_code == 404


def test_a_file_that_fails_to_parse_is_refused_with_the_reason(client: TestClient) -> None:
    missing_column = _upload(client, "InvoiceDate,Quantity,UnitPrice\n2024-01-01,2,3.5\n")
    bad_number = _upload(
        client,
        "customer,date,amount\nC1,2024-01-01,10\nC2,2024-01-02,ten euros\n",
    )
    empty = _upload(client, b"")
    header_only = _upload(client, "customer,date,amount\n")

    assert missing_column.status_code == 400
    assert "customer" in missing_column.json()["detail"].lower()
    assert bad_number.status_code == 400
    assert "row 3" in bad_number.json()["detail"]
    assert empty.status_code == 400
    assert header_only.status_code == 400


def test_rows_without_customer_are_counted_with_reasons(client: TestClient) -> None:
    response = _upload(client, "customer,date,amount\nC1,2024-01-01,10\n,2024-01-02,5\n")

    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert (rows["read"], rows["to_import"], rows["rejected"]) == (2, 1, 1)
    assert rows["first_rejections"] == ["row 3: missing customer id"]


def test_type_is_checked_by_content_and_extension(client: TestClient) -> None:
    junk = _upload(client, bytes(range(256)) * 40, filename="export.csv")
    pdf = _upload(client, b"%PDF-1.7\n" + bytes(range(256)) * 10, filename="report.csv")
    text_file = _upload(client, SALES_CSV, filename="notes.txt")

    assert junk.status_code == 415, junk.text
    assert pdf.status_code == 415
    assert text_file.status_code == 415
    assert ".csv" in text_file.json()["detail"]


def test_too_large_is_cut_off_with_413(client: TestClient, settings: Settings) -> None:
    big = "customer,date,amount\n" + "C1,2024-01-01,10\n" * 20_000  # ~340 kB > 200 kB

    response = _upload(client, big)

    assert response.status_code == 413
    assert (
        "200000" in response.json()["detail"].replace(".", "")
        or "0.2 MB" in response.json()["detail"]
    )
    assert not settings.upload_dir.exists() or list(settings.upload_dir.iterdir()) == []


def test_file_names_are_metadata_never_paths(client: TestClient, settings: Settings) -> None:
    traversal = _upload(client, SALES_CSV, filename="../../etc/evil.csv")
    # httpx escapes a NUL in a file name, so write the part header by hand.
    body = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="evil\x00.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + SALES_CSV.encode() + b"\r\n--B--\r\n"
    )
    nul = client.post(
        "/upload",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=B", **CSRF_HEADER},
    )

    assert traversal.status_code == 200
    info = traversal.json()["file_info"]
    assert info["original_name"] == "evil.csv"
    assert (settings.upload_dir / info["filename"]).is_file()
    assert not (settings.data_dir.parent / "etc").exists()
    assert nul.status_code == 400, nul.text
    assert "control characters" in nul.json()["detail"]


def test_bad_parameters_are_422(client: TestClient) -> None:
    bad_kind = _upload(client, SALES_CSV, kind="invoices")
    no_file = client.post(
        "/upload", data={"name": "x"}, files={"other": ("a.csv", b"x")}, headers=CSRF_HEADER
    )

    assert bad_kind.status_code == 422
    assert "kind" in bad_kind.json()["detail"]
    assert no_file.status_code == 422
    assert "'file'" in no_file.json()["detail"]
    assert client.get("/analysis/does-not-exist").json() == {
        "detail": "no upload with file_id 'does-not-exist'"
    }


def test_service_routes(client: TestClient, settings: Settings) -> None:
    status = client.get("/status").json()
    assert status["supported_formats"] == [".csv", ".xls", ".xlsx"]
    assert status["max_file_size"] == 200_000
    assert client.get("/").json()["endpoints"]["upload"] == "POST /upload"
    assert client.get("/health").json()["status"] == "healthy"
    assert "swagger-ui" in client.get("/docs").text

    document = client.get("/openapi.json").json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert {"/upload", "/analysis/{file_id}", "/logs/last/{num_lines}"} <= set(document["paths"])
    upload = document["paths"]["/upload"]["post"]["responses"]
    assert {"401", "403", "429"} <= set(upload)
    assert "Retry-After" in upload["429"]["headers"]
    assert "429" not in document["paths"]["/health"]["get"]["responses"]


def test_last_log_lines(client: TestClient, settings: Settings) -> None:
    settings.log_file.parent.mkdir(parents=True, exist_ok=True)
    settings.log_file.write_text("".join(f'{{"line": {i}}}\n' for i in range(100_000)))

    response = client.get("/logs/last/3")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == '{"line": 99997}\n{"line": 99998}\n{"line": 99999}\n'
    assert client.get("/logs/last/0").status_code == 422
    assert client.get("/logs/last/10001").status_code == 422
    assert client.get("/logs/last/abc").status_code == 422
