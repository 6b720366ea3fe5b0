"""Models over different column blocks of one input row, combined by weighted log-probabilities.

A front end that concatenates handcrafted features and pretrained embeddings feeds each member
only its own block (``columns: [start, stop]``), so members can be trained on different data:
the feature model on a large feature table, the embedding model on the few clips with audio.
The weighted geometric mean of probabilities (a product of experts) lets a confident, better
member outvote a weaker one, and a weight below one also softens an overconfident member.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genrelab.errors import ModelError
from genrelab.models.base import GenreModel, create_model, model_class, register_model

#: Probability floor before the logarithm: one member's zero cannot veto a class outright.
FLOOR = 1e-6


def product_of_experts(probas: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """``softmax(sum_i w_i log p_i)`` row by row."""
    logits = sum(w * np.log(np.clip(p, FLOOR, 1.0)) for w, p in zip(weights, probas, strict=True))
    logits = logits - logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


@register_model("column_stack")
class ColumnStackModel(GenreModel):
    """``members``: ``[{"model": name, "params": {...}, "columns": [start, stop]}, ...]``.

    ``weights`` (default all 1) multiply each member's log-probabilities.
    """

    def __init__(self, members: list[dict[str, Any]], weights: list[float] | None = None):
        self.members = members
        self.weights = weights
        if not members:
            raise ModelError("column_stack needs at least one member")
        if weights is not None and len(weights) != len(members):
            raise ModelError(f"column_stack has {len(members)} members but {len(weights)} weights")
        for member in members:
            start, stop = member.get("columns", (None, None))
            if not (isinstance(start, int) and isinstance(stop, int) and 0 <= start < stop):
                raise ModelError(f"member {member.get('model')!r} needs columns [start, stop]")
            model_class(member["model"])

    def _slice(self, X: np.ndarray, i: int) -> np.ndarray:
        start, stop = self.members[i]["columns"]
        if X.shape[1] < stop:
            raise ModelError(f"input has {X.shape[1]} columns; member {i} reads {start}:{stop}")
        return X[:, start:stop]

    def fit(self, X, y, *, X_valid=None, y_valid=None):
        X = np.asarray(X)
        fitted = [
            create_model(m["model"], **m.get("params", {})).fit(self._slice(X, i), y)
            for i, m in enumerate(self.members)
        ]
        return self.set_members(fitted)

    def set_members(self, fitted: list[GenreModel]) -> ColumnStackModel:
        """Adopt members fitted elsewhere (e.g. on different rows); their classes must agree."""
        classes = [list(map(str, m.classes_)) for m in fitted]
        if len(fitted) != len(self.members) or any(c != classes[0] for c in classes):
            raise ModelError("column_stack members must be fitted on the same classes")
        self.models_ = fitted
        self.classes_ = fitted[0].classes_
        return self

    def member_probas(self, X: np.ndarray) -> list[np.ndarray]:
        X = np.asarray(X)
        return [m.predict_proba(self._slice(X, i)) for i, m in enumerate(self.models_)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        weights = self.weights or [1.0] * len(self.members)
        return product_of_experts(self.member_probas(X), weights)

    def save(self, directory: Path) -> None:
        for i, model in enumerate(self.models_):
            sub = directory / f"member-{i}"
            sub.mkdir()
            model.save(sub)

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> ColumnStackModel:
        model = cls(**params)
        return model.set_members(
            [
                model_class(m["model"]).load(directory / f"member-{i}", m.get("params", {}))
                for i, m in enumerate(model.members)
            ]
        )
