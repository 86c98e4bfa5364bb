"""The package is typed (``py.typed``): mypy --strict finds nothing in it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "voxpace"
# Beside the virtualenv (target/py): the frameworks' types are analysed once, not every run.
CACHE = Path(sys.prefix) / "mypy-cache"


def test_the_package_passes_mypy_strict() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(CACHE), str(PACKAGE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
