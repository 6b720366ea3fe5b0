"""A batch job's model: an :class:`EngineSpec` (plain data) and the :class:`Engine` it builds.

The spec travels to worker processes and Ray actors, which each build the same
:class:`~genrelab.pipeline.Classifier` from it, so every execution path gives the same
numbers for the same file (see :mod:`genrelab.pipeline.pipeline`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genrelab.pipeline import Classifier, Pipeline


@dataclass(frozen=True)
class EngineSpec:
    """What to build in every process: bundle paths (or ``"default"``) and the aggregate."""

    models: tuple[str, ...] = ("default",)
    aggregate: str = "mean"
    #: Add musicnn tags to each result (``False``: none, not even those computed anyway).
    tags: bool = False
    #: Answer over these labels only (names or a preset; see :mod:`genrelab.labels`).
    labels: tuple[str, ...] | None = None

    def build(self) -> Engine:
        return Engine(self)


class Engine:
    """The spec's :class:`Classifier`, answering one file at a time as a result dict."""

    def __init__(self, spec: EngineSpec):
        self.spec = spec
        self.classifier = Classifier(list(spec.models), spec.labels)

    @property
    def labels(self) -> list[str]:
        return self.classifier.labels

    @property
    def pipelines(self) -> list[Pipeline]:
        return self.classifier.pipelines

    def classify(self, path: str | Path) -> dict[str, Any]:
        """The result dict (:meth:`Result.to_dict`); a failure has ``error`` set, never raises."""
        return self.classifier.run(path, self.spec.aggregate, self.spec.tags).to_dict()
