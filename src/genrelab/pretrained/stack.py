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
from genrelab.models.combine import FLOOR, load_members, product_of_experts, save_members


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
        """Adopt members fitted elsewhere (e.g. on different rows and classes).

        The stack answers over the union of its members' classes (the first member's order,
        then the others' new ones). A member without some class has no opinion on it: it
        gives that class its mean log-probability, so it neither favours nor vetoes it.
        """
        if len(fitted) != len(self.members):
            raise ModelError(f"column_stack has {len(self.members)} members, got {len(fitted)}")
        classes: list[str] = []
        for model in fitted:
            classes += [c for c in map(str, model.classes_) if c not in classes]
        self.models_ = fitted
        self.classes_ = np.asarray(classes)
        self._index = [[classes.index(str(c)) for c in m.classes_] for m in fitted]
        return self

    def member_probas(self, X: np.ndarray) -> list[np.ndarray]:
        """Each member's probabilities over the stack's classes (neutral where it has none)."""
        X = np.asarray(X)
        out = []
        for i, model in enumerate(self.models_):
            proba = model.predict_proba(self._slice(X, i))
            if len(self._index[i]) == len(self.classes_):
                out.append(proba[:, np.argsort(self._index[i])])
                continue
            logs = np.log(np.clip(proba, FLOOR, 1.0))
            full = np.repeat(logs.mean(axis=1, keepdims=True), len(self.classes_), axis=1)
            full[:, self._index[i]] = logs
            out.append(np.exp(full))
        return out

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        weights = self.weights or [1.0] * len(self.members)
        return product_of_experts(self.member_probas(X), weights)

    def save(self, directory: Path) -> None:
        save_members(self.models_, directory)

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> ColumnStackModel:
        model = cls(**params)
        return model.set_members(load_members(model.members, directory))


@register_model("tag_prior")
class TagPriorModel(GenreModel):
    """Zero-shot genre scores from pretrained tag log-odds: no training, nothing to overfit.

    ``genres`` maps each genre to the columns (within this member's input) of the tags that
    name it; a genre scores the largest log-odds among its tags (``missing`` when it has
    none, e.g. reggae, which neither musicnn tagger knows), and ``softmax(score /
    temperature)`` makes probabilities. Inside a :class:`ColumnStackModel` it keeps what the
    taggers learnt from millions of tracks in the answer, where heads fitted on a few hundred
    clips would learn one dataset's recordings instead.
    """

    def __init__(
        self, genres: dict[str, list[int]], temperature: float = 1.0, missing: float = -4.0
    ):
        if not genres:
            raise ModelError("tag_prior needs genres: {genre: [tag columns]}")
        if temperature <= 0:
            raise ModelError(f"tag_prior temperature must be positive, got {temperature}")
        self.genres = {str(g): [int(c) for c in cols] for g, cols in genres.items()}
        self.temperature = float(temperature)
        self.missing = float(missing)
        self.classes_ = np.asarray(sorted(self.genres), dtype=str)

    def get_params(self) -> dict[str, Any]:
        return {"genres": self.genres, "temperature": self.temperature, "missing": self.missing}

    def fit(self, X, y, *, X_valid=None, y_valid=None):
        """Nothing to learn; only checks the labels are genres it can score."""
        unknown = sorted(set(map(str, y)) - set(self.genres))
        if unknown:
            raise ModelError(f"tag_prior has no tags for {', '.join(unknown)}")
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        scores = np.full((len(X), len(self.classes_)), self.missing)
        for j, genre in enumerate(self.classes_):
            if cols := self.genres[genre]:
                scores[:, j] = X[:, cols].max(axis=1)
        logits = scores / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        out = np.exp(logits)
        return out / out.sum(axis=1, keepdims=True)

    def save(self, directory: Path) -> None:
        """Everything is in the card's params."""

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> TagPriorModel:
        return cls(**params)
