"""Small helpers shared by the command modules."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from genrelab.errors import GenrelabError

#: Human output goes to stdout; progress and per-file failures go to stderr.
out = Console()
err = Console(stderr=True)


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """``["C=3", "kernel=rbf"]`` -> ``{"C": 3, "kernel": "rbf"}`` (values parsed as JSON when possible)."""
    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise GenrelabError(f"bad --param {pair!r}; expected NAME=VALUE")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def write_json_atomic(path: str | Path, data: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)
    return path
