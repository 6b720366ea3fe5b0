"""Turning per-window probabilities into one answer per track."""

from __future__ import annotations

import numpy as np

from genrelab.errors import GenrelabError

AGGREGATES = ("mean", "vote", "middle")


def aggregate(proba: np.ndarray, method: str = "mean") -> tuple[int, float, np.ndarray]:
    """Return ``(class index, confidence, track probabilities)`` from ``(n_windows, n_classes)``.

    ``mean`` averages probabilities. ``vote`` takes the majority of per-window winners (ties go
    to the higher mean probability) and reports the winners' mean probability as confidence.
    ``middle`` expects the caller to have passed only the middle window and averages it.
    The returned probabilities are always the windows' mean, whatever picked the genre.
    """
    proba = np.atleast_2d(np.asarray(proba, dtype=np.float64))
    if proba.shape[0] == 0:
        raise GenrelabError("no windows to aggregate")
    mean = proba.mean(axis=0)
    if method in ("mean", "middle"):
        best = int(np.argmax(mean))
        return best, float(mean[best]), mean
    if method == "vote":
        winners = np.argmax(proba, axis=1)
        counts = np.bincount(winners, minlength=proba.shape[1])
        tied = np.flatnonzero(counts == counts.max())
        best = int(tied[np.argmax(mean[tied])])
        return best, float(proba[winners == best, best].mean()), mean
    raise GenrelabError(f"unknown aggregate {method!r}; choose one of: {', '.join(AGGREGATES)}")
