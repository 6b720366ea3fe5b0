"""The one answer every surface gives: :class:`Result` and its :meth:`Result.to_dict` schema.

The Python API returns it, ``genrelab classify --json`` prints its dict, the HTTP API sends
it (with a few upload facts added), batch tables flatten it into one row and Ray builds it
from the same parts, so a field added here shows up everywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.errors import GenrelabError

#: Probabilities are clipped here before the log, so "logits" stay finite.
LOG_FLOOR = 1e-12


@dataclass
class WindowResult:
    """One window of the timeline: its span in seconds and what the model heard there."""

    start: float
    end: float
    genre: str
    confidence: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Result:
    """The genre of one track (or why there is none: ``error``).

    Examples
    --------
    >>> r = Result(path="a.wav", model="default", labels=["jazz", "rock"], genre="rock",
    ...            confidence=0.75, probabilities={"jazz": 0.25, "rock": 0.75})
    >>> r.top(1)
    [('rock', 0.75)]
    >>> sorted(r.to_dict())  # doctest: +NORMALIZE_WHITESPACE
    ['aggregate', 'confidence', 'error', 'genre', 'labels', 'logits', 'model', 'path',
     'probabilities', 'tags', 'windows']
    """

    path: str | None
    model: str
    labels: list[str]
    aggregate: str = "mean"
    genre: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    #: The timeline: one entry per window heard.
    windows: list[WindowResult] = field(default_factory=list)
    #: Descriptive tags with scores (musicnn's), when computed.
    tags: list[tuple[str, float]] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def logits(self) -> dict[str, float]:
        """Natural-log scores of the probabilities (models expose no common raw logits)."""
        return {k: float(np.log(max(p, LOG_FLOOR))) for k, p in self.probabilities.items()}

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable labels with their probabilities."""
        return sorted(self.probabilities.items(), key=lambda kv: -kv[1])[:k]

    def to_dict(self) -> dict[str, Any]:
        """The JSON schema (see the README's "Result schema")."""
        return {
            "path": self.path,
            "model": self.model,
            "labels": list(self.labels),
            "aggregate": self.aggregate,
            "genre": self.genre,
            "confidence": self.confidence,
            "probabilities": dict(self.probabilities),
            "logits": self.logits,
            "windows": [w.to_dict() for w in self.windows],
            "tags": None
            if self.tags is None
            else [{"tag": t, "score": float(s)} for t, s in self.tags],
            "error": self.error,
        }

    @classmethod
    def failure(
        cls,
        path: str | Path | None,
        err: BaseException,
        model: str = "",
        labels: list[str] | None = None,
        aggregate: str = "mean",
    ) -> Result:
        """The result of a track that could not be classified; the message names the path."""
        message = error_message(path, err)
        return cls(
            None if path is None else str(path), model, labels or [], aggregate, error=message
        )


def error_message(path: str | Path | None, err: BaseException) -> str:
    """Our errors already name the file; anything else gets the path and the exception type."""
    if isinstance(err, GenrelabError):
        return str(err)
    return f"{path}: {type(err).__name__}: {err}"


def failed(result: dict[str, Any]) -> bool:
    """Whether a result dict (:meth:`Result.to_dict`) records a failure."""
    return bool(result.get("error"))


def named_probabilities(labels: list[str], row: np.ndarray) -> dict[str, float]:
    return {label: float(p) for label, p in zip(labels, row, strict=True)}


def timeline(
    labels: list[str], spans: list[tuple[float, float]], proba: np.ndarray
) -> list[WindowResult]:
    """Each window's span, winning genre, confidence and probabilities."""
    out = []
    for (start, end), row in zip(spans, proba, strict=True):
        best = int(np.argmax(row))
        out.append(
            WindowResult(
                round(start, 3),
                round(end, 3),
                labels[best],
                float(row[best]),
                named_probabilities(labels, row),
            )
        )
    return out
