"""How members' probabilities become one ensemble answer: the one place ensembles combine.

Soft voting (a weighted mean of probabilities) serves ``soft_vote`` bundles, bundle
ensembles and several ``--model`` options alike; ``column_stack`` bundles use the product
of experts. Members may know different labels or order them differently: :func:`align`
puts each member's columns under the ensemble's classes first. Ensembles of registered
models keep their members in ``member-<i>`` folders (:func:`save_members`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.errors import ModelError
from genrelab.models.base import GenreModel, model_class

#: Probability floor before the logarithm: one member's zero cannot veto a class outright.
FLOOR = 1e-6


def weights_or_equal(weights: Sequence[float] | None, count: int) -> np.ndarray:
    """``weights`` normalised to sum to one (equal weights when ``None``).

    Examples
    --------
    >>> weights_or_equal([1, 3], 2).tolist()
    [0.25, 0.75]
    """
    w = np.ones(count) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (count,) or (w < 0).any() or w.sum() <= 0:
        raise ModelError(f"ensemble weights must be {count} non-negative numbers, not all 0")
    return w / w.sum()


def soft_vote(probas: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """The weighted mean of members' probabilities (same shape, same column order).

    Examples
    --------
    >>> import numpy as np
    >>> soft_vote([np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])], [3, 1]).tolist()
    [[0.75, 0.25]]
    """
    w = weights_or_equal(weights, len(probas))
    return sum(wi * np.asarray(p, dtype=np.float64) for wi, p in zip(w, probas, strict=True))


def product_of_experts(probas: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """``softmax(sum_i w_i log p_i)`` row by row: a confident member can outvote others.

    Examples
    --------
    >>> import numpy as np
    >>> product_of_experts([np.array([[0.5, 0.5]]), np.array([[0.2, 0.8]])], [1, 1]).round(2)
    array([[0.2, 0.8]])
    """
    logits = sum(w * np.log(np.clip(p, FLOOR, 1.0)) for w, p in zip(weights, probas, strict=True))
    logits = logits - logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def align(
    proba: np.ndarray, labels: Sequence[str], classes: Sequence[str], fill: float = 0.0
) -> np.ndarray:
    """A member's ``proba`` over ``labels`` as columns of the ensemble's ``classes``;
    classes the member lacks get ``fill``.

    Examples
    --------
    >>> import numpy as np
    >>> align(np.array([[0.3, 0.7]]), ["rock", "jazz"], ["jazz", "pop", "rock"]).tolist()
    [[0.7, 0.0, 0.3]]
    """
    index = {str(c): i for i, c in enumerate(classes)}
    out = np.full((len(proba), len(classes)), fill, dtype=np.float64)
    out[:, [index[str(label)] for label in labels]] = proba
    return out


def save_members(models: Sequence[GenreModel], directory: Path) -> None:
    """Each fitted member in its own ``member-<i>`` folder of an ensemble's model folder."""
    for i, model in enumerate(models):
        sub = directory / f"member-{i}"
        sub.mkdir()
        model.save(sub)


def load_members(members: Sequence[dict[str, Any]], directory: Path) -> list[GenreModel]:
    """The members :func:`save_members` wrote, described as ``{"model", "params"}``."""
    return [
        model_class(m["model"]).load(directory / f"member-{i}", m.get("params", {}))
        for i, m in enumerate(members)
    ]
