"""Where sftscope keeps what only saves time (model digests, judgments): one place for all."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/sftscope, or ~/.cache/sftscope; read on every call, so a test or a
    run can point it elsewhere through the environment."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sftscope"
