"""GraphiQL without a CDN: its assets fetched from the npm registry at install time.

Strawberry's GraphiQL page loads React, GraphiQL and the explorer plugin from
unpkg.com. ``python -m server.graphiql`` (run by ``make install``) downloads
the very same package versions from registry.npmjs.org and checks each file
against the Subresource Integrity hash Strawberry's page pins, so the served
page can keep those ``integrity`` attributes. When the files are present the
page points at ``/static/graphiql/``; otherwise it falls back to the CDN.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ASSET_DIR = Path(__file__).parent / "static" / "graphiql"
ASSET_URL = "/static/graphiql"
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Asset:
    package: str
    version: str
    path: str  # inside the package
    integrity: str  # as pinned by Strawberry's page

    @property
    def cdn_url(self) -> str:
        return f"https://unpkg.com/{self.package}@{self.version}/{self.path}"

    @property
    def file_name(self) -> str:
        package = self.package.replace("@", "").replace("/", "-")
        return f"{package}-{self.version}-{Path(self.path).name}"

    @property
    def tarball_url(self) -> str:
        short_name = self.package.split("/")[-1]
        return f"{REGISTRY}/{self.package}/-/{short_name}-{self.version}.tgz"


ASSETS = (
    Asset(
        "react",
        "18.2.0",
        "umd/react.production.min.js",
        "sha384-tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
    ),
    Asset(
        "react-dom",
        "18.2.0",
        "umd/react-dom.production.min.js",
        "sha384-bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh",
    ),
    Asset(
        "js-cookie",
        "3.0.5",
        "dist/js.cookie.min.js",
        "sha384-/vxhYfM1LENRhdpZ8dwEsQn/X4VhpbEZSiU4m/FwR+PVpzar4fkEOw8FP9Y+OfQN",
    ),
    Asset(
        "graphiql",
        "3.8.3",
        "graphiql.min.css",
        "sha384-Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
    ),
    Asset(
        "graphiql",
        "3.8.3",
        "graphiql.min.js",
        "sha384-HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
    ),
    Asset(
        "@graphiql/plugin-explorer",
        "1.0.2",
        "dist/style.css",
        "sha384-5DFJlDPW2tSATRbM8kzoP1j194jexLswuNmClWoRr2Q0x7R68JIQzPHZ02Faktwi",
    ),
    Asset(
        "@graphiql/plugin-explorer",
        "1.0.2",
        "dist/index.umd.js",
        "sha384-2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9",
    ),
)


def integrity_of(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


def assets_present(directory: Path = ASSET_DIR) -> bool:
    return all((directory / asset.file_name).is_file() for asset in ASSETS)


def offline_page(strawberry_page: str, directory: Path = ASSET_DIR) -> str:
    """Strawberry's GraphiQL page with local asset URLs, or unchanged without the assets."""
    if not assets_present(directory):
        return strawberry_page
    page = strawberry_page
    for asset in ASSETS:
        if asset.cdn_url not in page:
            # Strawberry moved to other versions: its own page stays correct.
            return strawberry_page
        page = page.replace(asset.cdn_url, f"{ASSET_URL}/{asset.file_name}")
    return page


def fetch_assets(directory: Path = ASSET_DIR) -> list[Path]:
    """Download the assets into ``directory``; a file whose hash differs is refused."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    tarballs: dict[str, bytes] = {}
    for asset in ASSETS:
        target = directory / asset.file_name
        if target.is_file() and integrity_of(target.read_bytes()) == asset.integrity:
            continue
        if asset.tarball_url not in tarballs:
            with urllib.request.urlopen(asset.tarball_url, timeout=60) as response:
                tarballs[asset.tarball_url] = response.read()
        with tarfile.open(fileobj=io.BytesIO(tarballs[asset.tarball_url])) as archive:
            member = archive.extractfile(f"package/{asset.path}")
            if member is None:
                raise RuntimeError(f"{asset.tarball_url} has no {asset.path}")
            content = member.read()
            license_file = _license(archive)
        if integrity_of(content) != asset.integrity:
            raise RuntimeError(f"{asset.cdn_url}: content does not match {asset.integrity}")
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_bytes(content)
        partial.replace(target)
        if license_file is not None:
            name = asset.package.replace("@", "").replace("/", "-")
            (directory / f"{name}-LICENSE.txt").write_bytes(license_file)
        written.append(target)
    return written


def _license(archive: tarfile.TarFile) -> bytes | None:
    for name in ("package/LICENSE", "package/LICENSE.md", "package/LICENSE.txt"):
        try:
            member = archive.extractfile(name)
        except KeyError:
            continue
        if member is not None:
            return member.read()
    return None


def main() -> int:
    try:
        written = fetch_assets()
    except OSError as error:
        # Installing must not fail for it: GraphiQL then loads from the CDN.
        print(f"GraphiQL assets not fetched ({error}); GraphiQL will use the CDN", file=sys.stderr)
        return 0
    print(f"GraphiQL assets in {ASSET_DIR} ({len(written)} downloaded)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
