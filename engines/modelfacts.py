"""Facts that identify a model in session.toml: path, size, sha256.

Hashing a multi-GB checkpoint takes seconds, so digests are cached by
(path, size, mtime) under ~/.cache/sftscope; a resumed or repeated run on the
same file does not pay again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sftscope.engines.cache import cache_dir


def sha256_file(path: Path) -> str:
    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_path = cache_dir() / "sha256.json"
    cache: dict[str, str] = {}
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    value = digest.hexdigest()
    cache[key] = value
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_path)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return value


def file_facts(path: Path) -> dict[str, Any]:
    path = Path(path).resolve()
    return {"path": str(path), "file_size": path.stat().st_size, "sha256": sha256_file(path)}


def directory_facts(path: Path) -> dict[str, Any]:
    """For a checkpoint directory: a fingerprint over file names, sizes and config.json.

    Hashing every shard would cost minutes on a large model; names, sizes and the
    config tell two checkpoints apart in practice, and the weights' digests are
    added when they are small enough to hash quickly.
    """
    path = Path(path).resolve()
    digest = hashlib.sha256()
    total = 0
    files = sorted(p for p in path.iterdir() if p.is_file())
    for file in files:
        size = file.stat().st_size
        total += size
        digest.update(f"{file.name}:{size}\n".encode())
        if file.name == "config.json" or size <= 512 * 1024 * 1024:
            digest.update(sha256_file(file).encode())
    return {"path": str(path), "file_size": total, "fingerprint": digest.hexdigest()}
