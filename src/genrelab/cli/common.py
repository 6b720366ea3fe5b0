"""Small helpers shared by the command modules."""

from __future__ import annotations

import json
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
