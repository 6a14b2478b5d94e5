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


def test_keys_create_list_revoke(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from analytics.access import authenticate_api_key
    from analytics.audit import list_audit

    assert main(["demo", "--customers", "20"]) == 0
    capsys.readouterr()
    assert (
        main(["keys", "create", "--name", "robot", "--role", "analyst", "--dataset", "demo"]) == 0
    )
    created = capsys.readouterr().out.splitlines()
    secret = created[-1]
    key_id = secret.split("_")[1]
    assert created[0] == f"key {key_id} (robot): role analyst, demo"

    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out
    assert key_id in listed and "active" in listed and secret not in listed
    engine = _engine(data_dir)
    assert authenticate_api_key(engine, secret).role == "analyst"

    assert main(["keys", "revoke", key_id]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["keys", "list"]) == 0
    assert "revoked 20" in capsys.readouterr().out
    actions = [(entry.actor, entry.action, entry.target) for entry in list_audit(engine, 10)]
    assert actions == [("cli", "keys.revoke", key_id), ("cli", "keys.create", key_id)]


def test_keys_refuse_bad_input(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "revoke", "nope"]) == 2
    assert "API key 'nope' does not exist" in capsys.readouterr().err
    assert main(["keys", "create", "--name", "x", "--role", "viewer", "--dataset", "nope"]) == 2
    assert "datasets: no dataset 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["keys", "create", "--name", "x", "--role", "root"])


def test_token_is_signed_with_the_configured_secret(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics.access import authenticate_jwt

    assert main(["token", "--subject", "alice", "--role", "viewer"]) == 2
    assert "SALESCOPE_JWT_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("SALESCOPE_JWT_SECRET", "z" * 32)
    assert main(["token", "--subject", "alice", "--role", "viewer", "--dataset", "demo"]) == 0
    token = capsys.readouterr().out.strip()
    principal = authenticate_jwt(token, "z" * 32)
    assert (principal.subject, principal.datasets) == ("jwt:alice", frozenset({"demo"}))
