"""What loading a bundle may do besides reading plain data, and the checks that keep it so.

A bundle is data: loading one must not run code. Pickles (``*.joblib``, legacy ``weights.pt``)
can run code when unpickled, and so can a Hugging Face model with ``trust_remote_code``. Both
are refused unless the user says otherwise on the command line (``--trust-bundle``,
``--trust-remote-code``), never because a card asks for it. Files of a bundle must lie inside
its folder: a symlink pointing elsewhere is refused.

The CLI sets the permission for its process (:func:`allow`), library code passes ``trust=``
to :func:`genrelab.models.load_bundle` (a context variable, for that call), and batch workers
receive their parent's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genrelab.errors import ModelError

#: Torch weights as saved now (no pickle) and as saved before (a pickle).
SAFE_WEIGHTS = "weights.safetensors"
LEGACY_WEIGHTS = "weights.pt"


@dataclass(frozen=True)
class Trust:
    """``pickle``: unpickle bundle files; ``remote_code``: let transformers run a model's code."""

    pickle: bool = False
    remote_code: bool = False


_trust: ContextVar[Trust | None] = ContextVar("genrelab_trust", default=None)
#: What the command line allowed for this whole process (threads included).
_process = Trust()
_warned: set[str] = set()


def current() -> Trust:
    return _trust.get() or _process


def allow(trust: Trust) -> None:
    """Set the permission for this process: one CLI command, or one batch worker."""
    global _process
    _process = trust


@contextmanager
def trusting(trust: Trust) -> Iterator[None]:
    """The permission for the duration of a block."""
    token = _trust.set(trust)
    try:
        yield
    finally:
        _trust.reset(token)


def require_pickle(path: Path) -> None:
    """Refuse to unpickle ``path`` unless trusted; when trusted, say so once on stderr."""
    if not current().pickle:
        raise ModelError(
            f"{path} is a pickle, which can run code when loaded; re-save the bundle with this "
            "genrelab, or pass --trust-bundle if you trust its source"
        )
    if str(path) not in _warned:
        _warned.add(str(path))
        print(f"genrelab: warning: unpickling {path} (--trust-bundle)", file=sys.stderr)


def remote_code_params(params: Any, where: str) -> Any:
    """``params`` after checking every ``trust_remote_code`` a card sets against the user's.

    A card may say its backbone needs remote code; only ``--trust-remote-code`` lets it run.
    """
    if isinstance(params, dict):
        out = {}
        for key, value in params.items():
            if key == "trust_remote_code":
                if value and not current().remote_code:
                    raise ModelError(
                        f"{where}: this model's backbone runs code from its folder or hub "
                        "repository; pass --trust-remote-code if you trust it"
                    )
                out[key] = bool(value)
            else:
                out[key] = remote_code_params(value, where)
        return out
    if isinstance(params, list):
        return [remote_code_params(value, where) for value in params]
    return params


def check_contained(root: Path) -> None:
    """Refuse a bundle with a symlink (file or folder) that resolves outside ``root``."""
    base = root.resolve()
    for folder, dirs, files in os.walk(base):
        for name in dirs + files:
            entry = Path(folder) / name
            if entry.is_symlink() and not entry.resolve().is_relative_to(base):
                raise ModelError(
                    f"{root}: {entry.relative_to(base)} points outside the bundle "
                    f"({os.readlink(entry)}); refusing to load it"
                )


def save_torch_state(state: dict[str, Any], directory: Path) -> None:
    """Weights as safetensors: plain tensors, nothing to unpickle."""
    from safetensors.torch import save_file

    # Own contiguous copies: safetensors refuses tensors that share memory (tied weights).
    save_file(
        {k: v.detach().cpu().contiguous().clone() for k, v in state.items()},
        str(directory / SAFE_WEIGHTS),
    )


def load_torch_state(directory: Path, device: Any) -> dict[str, Any]:
    """Safetensors weights, or a bundle's legacy pickled ``weights.pt`` when trusted."""
    if (directory / SAFE_WEIGHTS).is_file():
        from safetensors.torch import load_file

        return load_file(str(directory / SAFE_WEIGHTS), device=str(device))
    import torch

    require_pickle(directory / LEGACY_WEIGHTS)
    return torch.load(directory / LEGACY_WEIGHTS, map_location=device, weights_only=True)
