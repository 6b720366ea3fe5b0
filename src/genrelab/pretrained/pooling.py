"""Many vectors to one, and a few patches out of many: shared by the embedders and the tagger.

Its own module so that :mod:`genrelab.pretrained.hf` and :mod:`genrelab.pretrained.tagging`
need not import :mod:`genrelab.pretrained.embeddings`, which loads them both.
"""

from __future__ import annotations

import numpy as np

from genrelab.errors import ModelError

#: How per-patch (or per-frame) vectors become one row per window.
POOLS = ("mean", "max", "mean+std")


def pool(rows: np.ndarray, how: str) -> np.ndarray:
    """One vector from ``(n, d)`` rows: their mean, max, or mean then standard deviation."""
    if how == "mean":
        return rows.mean(axis=0)
    if how == "max":
        return rows.max(axis=0)
    if how == "mean+std":
        return np.concatenate([rows.mean(axis=0), rows.std(axis=0)])
    raise ModelError(f"unknown pooling {how!r}; choose one of {', '.join(POOLS)}")


def spread(n: int, k: int) -> np.ndarray:
    """Indices of ``k`` of ``n`` items, one from the middle of each of ``k`` equal parts.

    Centred picks keep a few patches away from intros and fade-outs; all when ``k >= n``.
    """
    if k < 1:
        raise ModelError(f"max_patches must be at least 1, got {k}")
    return np.arange(n) if k >= n else ((np.arange(k) + 0.5) * n / k).astype(int)
