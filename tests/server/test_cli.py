from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from analytics.db import create_db_engine, get_dataset
from server.cli import main


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SALESCOPE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SALESCOPE_DATABASE_URL", raising=False)
    return tmp_path


def _engine(data_dir: Path) -> sa.engine.Engine:
    return create_db_engine(f"sqlite:///{data_dir / 'salescope.db'}")


def test_import_reports_totals_and_snapshots(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "cdnow.csv"
    csv.write_text(
        "customer_id,date,quantity,amount\n"
        "00001,19970101,1,11.77\n"
        "00002,19970112,1,12.00\n"
        "00002,19970112,5,77.00\n"
        "00003,19970102,2,20.76\n"
    )

    assert main(["import", str(csv), "--dataset", "cdnow"]) == 0

    # No order id column: each row is one order. 11.77 + 12 + 77 + 20.76 = 121.53.
    assert "4 rows, 3 customers, 4 orders, revenue 121.53" in capsys.readouterr().out
    dataset = get_dataset(_engine(data_dir), "cdnow")
    assert (dataset.version, dataset.rows_imported, dataset.source_filename) == (1, 4, "cdnow.csv")
    assert (data_dir / "frames" / "cdnow" / "v1" / "lines.parquet").is_file()


def test_bad_file_exits_2_with_the_reason_and_changes_nothing(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("customer,date,amount\nA,2024-01-01,10\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("customer,date,amount\nA,2024-01-01,10\nB,not a date,5\n")
    assert main(["import", str(good), "--dataset", "shop"]) == 0
    capsys.readouterr()

    assert main(["import", str(bad), "--dataset", "shop"]) == 2

    err = capsys.readouterr().err
    assert "row 3" in err and "'not a date'" in err
    assert "Traceback" not in err
    assert get_dataset(_engine(data_dir), "shop").version == 1


def test_missing_file_and_demo(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(tmp_path / "nope.csv"), "--dataset", "x"]) == 2
    assert "no such file" in capsys.readouterr().err

    assert main(["demo", "--customers", "50", "--seed", "7", "--dataset", "small"]) == 0
    assert get_dataset(_engine(data_dir), "small").kind == "demo"


def test_export_schema_prints_the_sdl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-schema"]) == 0
    assert "kpis(dataset: ID = null, period: DateRange = null): Kpis!" in capsys.readouterr().out
