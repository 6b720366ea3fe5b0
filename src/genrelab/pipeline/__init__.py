"""From a model bundle to an answer: windowing, front end, model, aggregation, one result.

``audio`` decodes and ``features`` computes front ends; this package puts a bundle's pieces
in order (:class:`Pipeline`), lets several answer as one (:class:`Classifier`) and defines the
one answer every surface gives (:class:`Result`).
"""

from genrelab.pipeline.classifier import Classifier
from genrelab.pipeline.pipeline import BATCH_WINDOWS, Heard, Pipeline
from genrelab.pipeline.result import Result, WindowResult, failed
from genrelab.pipeline.windowing import Windowing

__all__ = [
    "BATCH_WINDOWS",
    "Classifier",
    "Heard",
    "Pipeline",
    "Result",
    "WindowResult",
    "Windowing",
    "failed",
]
