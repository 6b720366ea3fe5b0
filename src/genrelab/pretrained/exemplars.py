"""A product-of-experts member that recognises recordings close to a few labelled exemplars.

Linear heads fitted on a few hundred clips of several sources cannot afford to memorise one
source's artists; this member does, and stays out of the way elsewhere. A row's similarity to
a class is the mean of its ``k`` largest cosine similarities to that class's exemplar rows
(patch embeddings, centred on the exemplars' mean); it is compared with the same statistic
over background rows (music of other sources, centred on their own mean). A class gains
``max(0, similarity - gate) / temperature`` in log-probability, where ``gate`` is the larger of
``threshold`` and ``background similarity + margin``: a row counts as like an exemplar only
when it is more like it than like ordinary other music. Far from every exemplar the member is
uniform, so a :class:`~genrelab.pretrained.stack.ColumnStackModel` hears nothing from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genrelab.errors import ModelError
from genrelab.models.base import GenreModel, register_model

_FILE = "exemplars.npz"


def _unit(X: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Rows minus ``centre``, scaled to unit length (float16: the stored precision)."""
    X = np.asarray(X, dtype=np.float64) - centre
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.maximum(norm, 1e-12)).astype(np.float16)


def _top_k_mean(S: np.ndarray, k: int) -> np.ndarray:
    k = min(k, S.shape[1])
    return np.partition(S, S.shape[1] - k, axis=1)[:, -k:].mean(axis=1)


@register_model("exemplar_gate")
class ExemplarGateModel(GenreModel):
    """``blocks``: ``[[start, stop], ...]`` column ranges of the input compared (concatenated).

    ``fit`` rows labelled ``background`` are the background; the others are exemplars.
    ``classes`` adds labels without exemplars (they never gain), so the member answers over
    the same classes as the rest of a stack.
    """

    def __init__(
        self,
        blocks: list[list[int]],
        k: int = 5,
        threshold: float = 0.5,
        margin: float = -0.15,
        temperature: float = 0.02,
        background: str = "background",
        classes: list[str] | None = None,
    ):
        if not blocks or any(len(b) != 2 or not 0 <= b[0] < b[1] for b in blocks):
            raise ModelError(f"exemplar_gate needs blocks [[start, stop], ...], got {blocks!r}")
        if k < 1 or temperature <= 0:
            raise ModelError("exemplar_gate needs k >= 1 and a positive temperature")
        self.blocks = [[int(a), int(b)] for a, b in blocks]
        self.k = int(k)
        self.threshold = float(threshold)
        self.margin = float(margin)
        self.temperature = float(temperature)
        self.background = str(background)
        self.classes = None if classes is None else [str(c) for c in classes]

    def _columns(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.shape[1] < max(b for _, b in self.blocks):
            raise ModelError(f"exemplar_gate reads columns up to {self.blocks[-1][1]}")
        return np.concatenate([X[:, a:b] for a, b in self.blocks], axis=1)

    def fit(self, X, y, *, X_valid=None, y_valid=None):
        X, y = self._columns(X), np.asarray(y).astype(str)
        is_bg = y == self.background
        if is_bg.all() or not is_bg.any():
            raise ModelError("exemplar_gate needs both exemplar and background rows")
        self.centre_ = X[~is_bg].mean(axis=0)
        self.background_centre_ = X[is_bg].mean(axis=0)
        self.exemplars_ = _unit(X[~is_bg], self.centre_)
        self.labels_ = y[~is_bg]
        self.background_rows_ = _unit(X[is_bg], self.background_centre_)
        self.classes_ = np.asarray(sorted({*self.labels_, *(self.classes or [])}))
        return self

    def similarities(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per class (``classes_``, -1 without exemplars) and to the background."""
        X = self._columns(X)
        S = _unit(X, self.centre_).astype(np.float32) @ self.exemplars_.astype(np.float32).T
        out = np.full((len(X), len(self.classes_)), -1.0)
        for j, c in enumerate(self.classes_):
            if (mine := self.labels_ == c).any():
                out[:, j] = _top_k_mean(S[:, mine], self.k)
        B = _unit(X, self.background_centre_).astype(np.float32)
        return out, _top_k_mean(B @ self.background_rows_.astype(np.float32).T, self.k)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        similarity, background = self.similarities(X)
        gate = np.maximum(self.threshold, background + self.margin)[:, None]
        logits = np.maximum(0.0, similarity - gate) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        out = np.exp(logits)
        return out / out.sum(axis=1, keepdims=True)

    def save(self, directory: Path) -> None:
        np.savez(
            directory / _FILE,
            centre=self.centre_,
            background_centre=self.background_centre_,
            exemplars=self.exemplars_,
            labels=self.labels_,
            background_rows=self.background_rows_,
            classes=self.classes_,
        )

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> ExemplarGateModel:
        model = cls(**params)
        with np.load(directory / _FILE, allow_pickle=False) as z:
            model.centre_, model.background_centre_ = z["centre"], z["background_centre"]
            model.exemplars_, model.labels_ = z["exemplars"], z["labels"].astype(str)
            model.background_rows_ = z["background_rows"]
            model.classes_ = z["classes"].astype(str)
        return model
