"""Soft voting over several registered feature models (:func:`~genrelab.models.combine.soft_vote`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genrelab.errors import ModelError
from genrelab.models.base import GenreModel, create_model, model_class, register_model
from genrelab.models.combine import load_members, save_members, soft_vote


@register_model("soft_vote")
class SoftVoteModel(GenreModel):
    """``members``: a list of ``{"model": name, "params": {...}}``; ``weights`` default equal."""

    def __init__(
        self, members: list[dict[str, Any]] | None = None, weights: list[float] | None = None
    ):
        self.members = members or [
            {"model": "svm", "params": {}},
            {"model": "xgboost", "params": {}},
        ]
        self.weights = weights
        if weights is not None and len(weights) != len(self.members):
            raise ModelError(
                f"soft_vote has {len(self.members)} members but {len(weights)} weights"
            )
        for member in self.members:
            kind = model_class(member["model"]).input_kind
            if kind != "features":
                raise ModelError(
                    f"soft_vote combines feature models; {member['model']!r} reads {kind!r}"
                )

    def fit(self, X, y, *, X_valid=None, y_valid=None):
        self.models_ = [
            create_model(m["model"], **m.get("params", {})).fit(X, y) for m in self.members
        ]
        self.classes_ = self.models_[0].classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return soft_vote([m.predict_proba(X) for m in self.models_], self.weights)

    def save(self, directory: Path) -> None:
        save_members(self.models_, directory)

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> SoftVoteModel:
        model = cls(**params)
        model.models_ = load_members(model.members, directory)
        model.classes_ = model.models_[0].classes_
        return model
