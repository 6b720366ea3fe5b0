"""Small helpers shared by the command modules."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
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


TrustBundle = Annotated[
    bool,
    typer.Option(
        "--trust-bundle",
        help="Allow loading pickled bundle files (older bundles); a pickle can run code.",
    ),
]
TrustRemoteCode = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code",
        help="Let a Hugging Face backbone run code from its folder or hub repository.",
    ),
]


def allow_trust(trust_bundle: bool, trust_remote_code: bool) -> None:
    """What bundles loaded by this command may do; by default only read data."""
    from genrelab.models.trust import Trust, allow

    allow(Trust(pickle=trust_bundle, remote_code=trust_remote_code))
