"""Turning per-window probabilities into one answer per track (which windows: ``pipeline.windowing``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genrelab.errors import GenrelabError

AGGREGATES = ("mean", "vote", "middle", "random:N[:SEED]")
#: The ``--aggregate`` help of the commands that take it.
AGGREGATE_HELP = (
    "Combine windows: mean (probability), vote (majority), middle (the middle window only) "
    "or random:N[:SEED] (majority vote over N random windows, reproducible with the seed)."
)


@dataclass(frozen=True)
class Aggregation:
    """A parsed ``--aggregate``: ``random:N[:SEED]`` votes over N random windows of the song."""

    method: str
    count: int = 0
    seed: int = 0

    @property
    def whole_file(self) -> bool:
        """Whether the windows depend on the whole length (the file is decoded, not streamed)."""
        return self.method in ("middle", "random")


def parse_aggregate(spec: str) -> Aggregation:
    """``mean``, ``vote``, ``middle`` or ``random:N[:SEED]`` (seed 0 when omitted)."""
    method, _, rest = spec.partition(":")
    if method in ("mean", "vote", "middle") and not rest:
        return Aggregation(method)
    if method == "random":
        count, _, seed = rest.partition(":")
        try:
            parsed = Aggregation("random", int(count), int(seed or 0))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.count >= 1 and ":" not in seed:
            return parsed
        raise GenrelabError(
            f"bad aggregate {spec!r}; random takes a window count of at least 1 and an optional "
            "integer seed, e.g. random:5 or random:5:42"
        )
    raise GenrelabError(f"unknown aggregate {spec!r}; choose one of: {', '.join(AGGREGATES)}")


def aggregate(proba: np.ndarray, method: str = "mean") -> tuple[int, float, np.ndarray]:
    """Return ``(class index, confidence, track probabilities)`` from ``(n_windows, n_classes)``.

    ``mean`` averages probabilities. ``vote`` (and ``random:N``, which votes over its random
    windows) takes the majority of per-window winners (ties go to the higher mean
    probability) and reports the winners' mean probability as confidence. ``middle`` expects
    the caller to have passed only the middle window and averages it. The returned
    probabilities are always the windows' mean, whatever picked the genre.
    """
    how = parse_aggregate(method)
    proba = np.atleast_2d(np.asarray(proba, dtype=np.float64))
    if proba.shape[0] == 0:
        raise GenrelabError("no windows to aggregate")
    mean = proba.mean(axis=0)
    if how.method in ("mean", "middle"):
        best = int(np.argmax(mean))
        return best, float(mean[best]), mean
    winners = np.argmax(proba, axis=1)
    counts = np.bincount(winners, minlength=proba.shape[1])
    tied = np.flatnonzero(counts == counts.max())
    best = int(tied[np.argmax(mean[tied])])
    return best, float(proba[winners == best, best].mean()), mean
