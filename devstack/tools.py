"""Finding the programs the stack runs."""

from __future__ import annotations

import shutil
from pathlib import Path


def binary(name: str, *candidates: str) -> str:
    found = shutil.which(name) or next((c for c in candidates if Path(c).exists()), None)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run `make deps` (or apt-get install {name})")
    return found
