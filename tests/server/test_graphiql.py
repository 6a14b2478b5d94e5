from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from server import graphiql
from server.app import create_app
from server.graphiql import ASSETS, assets_present, fetch_assets, integrity_of, offline_page
from server.settings import Settings


@pytest.fixture
def client(sqlite_engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, rate_limit_enabled=False)
    with TestClient(create_app(settings, engine=sqlite_engine)) as test_client:
        yield test_client


def test_graphiql_loads_nothing_from_a_cdn(client: TestClient) -> None:
    # `make install` fetched the assets; CI installs from nothing, so this runs there.
    assert assets_present(), "run `python -m server.graphiql` (make install does)"
    page = client.get("/graphql", headers={"Accept": "text/html"}).text

    assert "unpkg.com" not in page
    for asset in ASSETS:
        url = f"/static/graphiql/{asset.file_name}"
        assert url in page
        served = client.get(url)
        assert served.status_code == 200
        # The page keeps Strawberry's integrity attributes: the browser checks them too.
        assert integrity_of(served.content) == asset.integrity
        assert asset.integrity in page


def test_without_the_assets_the_page_falls_back_to_the_cdn(tmp_path: Path) -> None:
    page = "<script src='https://unpkg.com/react@18.2.0/umd/react.production.min.js'>"
    assert offline_page(page, tmp_path) == page


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_a_tampered_download_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asset = ASSETS[0]
    tarball = _tarball({asset.path: b"alert('not react')", "LICENSE": b"MIT"})

    class Response(io.BytesIO):
        def __enter__(self) -> Response:
            return self

        def __exit__(self, *args: object) -> None:
            self.close()

    monkeypatch.setattr(graphiql, "ASSETS", (asset,))
    monkeypatch.setattr(graphiql.urllib.request, "urlopen", lambda *a, **k: Response(tarball))

    with pytest.raises(RuntimeError, match="does not match"):
        fetch_assets(tmp_path)
    assert not (tmp_path / asset.file_name).exists()
