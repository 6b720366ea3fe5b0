"""Restricting a model's answer to a subset of its labels (``--labels``).

A user who only cares about some genres (a library that has no electronic music, a study
on the 10 GTZAN genres) asks for them by name or by preset; every window's probabilities
are renormalised over the kept labels, so the timeline, the track's mean and its genre all
answer the narrower question consistently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genrelab.errors import ModelError

#: The 10 genres of GTZAN (Tzanetakis & Cook 2002), in the dataset's order.
GTZAN = (
    "blues",
    "classical",
    "country",
    "disco",
    "hiphop",
    "jazz",
    "metal",
    "pop",
    "reggae",
    "rock",
)
PRESETS: dict[str, tuple[str, ...]] = {"gtzan": GTZAN}


def parse_labels(spec: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``"gtzan"``, ``"rock,jazz"`` or a list of those: the requested labels, in order.

    Presets expand in place; duplicates are dropped; ``None`` or empty means "all labels".
    """
    if spec is None:
        return None
    parts = [spec] if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for part in parts:
        for name in str(part).split(","):
            name = name.strip()
            for label in PRESETS.get(name.lower(), (name,)) if name else ():
                if label not in names:
                    names.append(label)
    return tuple(names) or None


def resolve_labels(spec: str | Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """The kept labels in the model's order; an unknown name is a one-line :class:`ModelError`."""
    wanted = parse_labels(spec)
    if wanted is None:
        return list(available)
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise ModelError(
            f"unknown label{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
            f"this model has {', '.join(available)} (presets: {', '.join(PRESETS)})"
        )
    if len(wanted) < 2:
        raise ModelError("--labels needs at least two labels to choose between")
    return [label for label in available if label in wanted]


def restrict(proba: np.ndarray, columns: Sequence[int]) -> np.ndarray:
    """Rows of ``proba`` over ``columns`` only, each renormalised to sum to one.

    A row with no mass left on the kept labels becomes uniform over them rather than NaN.
    """
    proba = np.asarray(proba, dtype=np.float64)
    kept = proba[:, list(columns)]
    if kept.shape[1] == proba.shape[1]:
        return kept
    total = kept.sum(axis=1, keepdims=True)
    uniform = np.full_like(kept, 1.0 / max(kept.shape[1], 1))
    return np.divide(kept, total, out=uniform, where=total > 0)
