"""What ``genrelab.load_model`` returns: one or more pipelines answering as one model.

Several bundles form an ensemble: each member hears the track through its own pipeline (its
rate, windows and front end) and their track probabilities are soft-voted
(:func:`genrelab.models.combine.soft_vote`); labels are matched by name, so members may order
their classes differently. The batch engine, worker processes and Ray build this same object.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.errors import ModelError
from genrelab.models.bundle import Bundle
from genrelab.models.combine import soft_vote
from genrelab.pipeline.pipeline import Pipeline
from genrelab.pipeline.result import Result, named_probabilities, timeline

ModelRef = Bundle | str | Path | None


class Classifier:
    """Classify files or signals with one bundle or an ensemble of bundles.

    Parameters
    ----------
    models : Bundle, str, Path, None or a sequence of them
        Bundle folders (or loaded bundles); ``None``/``"default"`` is the embedded model.
        Several make an ensemble (probabilities averaged).
    labels : str or sequence of str, optional
        Answer over these labels only (names or a preset such as ``"gtzan"``).

    Examples
    --------
    >>> from genrelab import synth
    >>> model = Classifier(labels=["classical", "metal", "rock"])
    >>> model.labels
    ['classical', 'metal', 'rock']
    >>> model.classify(synth.song(4.0, style="classical", seed=0), sr=22050).genre in model.labels
    True
    """

    def __init__(
        self,
        models: ModelRef | Sequence[ModelRef] = None,
        labels: str | Sequence[str] | None = None,
    ):
        refs = list(models) if isinstance(models, list | tuple) else [models]
        if not refs:
            raise ModelError("give at least one model")
        first = Pipeline(refs[0], labels)
        self.pipelines = [first]
        for ref in refs[1:]:
            member = Pipeline(ref)
            if sorted(member.card.labels) != sorted(first.card.labels):
                raise ModelError(
                    f"model {member.model_id} predicts {', '.join(member.card.labels)}; an "
                    f"ensemble needs the same genres as {first.model_id} "
                    f"({', '.join(first.card.labels)})"
                )
            self.pipelines.append(member.restricted(first.labels))
        self.model_id = "+".join(p.model_id for p in self.pipelines)

    @property
    def labels(self) -> list[str]:
        """The labels answered over, in the order of the probabilities."""
        return self.pipelines[0].labels

    @property
    def bundle(self) -> Bundle:
        """The (first) model's bundle."""
        return self.pipelines[0].bundle

    @property
    def card(self) -> Any:
        """The (first) model's card: what it was trained and validated on."""
        return self.bundle.card

    @property
    def sr(self) -> int:
        return self.pipelines[0].sr

    def restricted(self, labels: str | Sequence[str] | None) -> Classifier:
        """This classifier answering over ``labels`` only; shares the loaded models."""
        other = copy.copy(self)
        first = self.pipelines[0].restricted(labels)
        other.pipelines = [first] + [p.restricted(first.labels) for p in self.pipelines[1:]]
        return other

    def classify(
        self,
        audio: str | Path | np.ndarray,
        sr: int | None = None,
        aggregate: str = "mean",
        tags: bool | None = None,
        name: str = "",
    ) -> Result:
        """The genre of a file (streamed in bounded memory) or of a mono signal.

        Parameters
        ----------
        audio : str, Path or numpy.ndarray
            A path to any common audio format, or a mono float signal.
        sr : int, optional
            The signal's sample rate (resampled to the model's); required for an array.
        aggregate : str
            ``mean``, ``vote``, ``middle`` or ``random:N[:SEED]``.
        tags : bool, optional
            ``None``: musicnn tags when the model computes them anyway; ``True``: always
            (a separate tagger pass if needed); ``False``: never.
        name : str
            How messages and the result name the audio (default: the path).

        Returns
        -------
        Result
            An ensemble soft-votes its members' answers.

        Raises
        ------
        GenrelabError
            Audio that cannot be decoded, is too short or silent; a bad ``aggregate``.

        Examples
        --------
        >>> from genrelab import synth
        >>> model = Classifier(labels="gtzan")
        >>> result = model.classify(synth.song(40.0, style="rock", seed=3), sr=22050)
        >>> [(w.start, w.end) for w in result.windows]
        [(0.0, 30.0), (10.0, 40.0)]
        """
        tagger = self.tagger
        parts = [
            p.classify(
                audio, sr, aggregate=aggregate, tags=tags if i == tagger else False, name=name
            )
            for i, p in enumerate(self.pipelines)
        ]
        return self.combine(parts, parts[tagger].tags)

    @property
    def tagger(self) -> int:
        """The member whose tags the answer gives: one that computes them anyway, if any."""
        return next((i for i, p in enumerate(self.pipelines) if p.reads_tags), 0)

    def run(self, path: str | Path, aggregate: str = "mean", tags: bool | None = None) -> Result:
        """:meth:`classify` that never raises: a failure is a :class:`Result` with ``error``."""
        try:
            return self.classify(path, aggregate=aggregate, tags=tags)
        except Exception as err:  # one bad file must never end a batch
            return Result.failure(path, err, self.model_id, self.labels, aggregate)

    def classify_many(
        self,
        paths: Iterable[str | Path],
        aggregate: str = "mean",
        tags: bool | None = None,
        on_result: Callable[[Result], None] | None = None,
    ) -> Iterator[Result]:
        """One :class:`Result` per file, in order; a failed file's has ``error`` set."""
        for path in paths:
            result = self.run(path, aggregate, tags)
            if on_result is not None:
                on_result(result)
            yield result

    def combine(
        self, parts: Sequence[Result], tags: list[tuple[str, float]] | None = None
    ) -> Result:
        """Members' answers for one track soft-voted into the ensemble's (one member: as is)."""
        if len(parts) == 1:
            return parts[0]
        labels = self.labels
        vote = soft_vote([np.array([[p.probabilities[c] for c in labels]]) for p in parts])[0]
        best = int(np.argmax(vote))
        spans = [[(w.start, w.end) for w in p.windows] for p in parts]
        windows = []
        if all(s == spans[0] for s in spans):  # the same windows: a timeline of voted windows
            rows = [
                np.array([[w.probabilities[c] for c in labels] for w in p.windows]) for p in parts
            ]
            windows = timeline(labels, spans[0], soft_vote(rows))
        first = parts[0]
        return Result(
            path=first.path,
            model=self.model_id,
            labels=list(labels),
            aggregate=first.aggregate,
            genre=labels[best],
            confidence=float(vote[best]),
            probabilities=named_probabilities(labels, vote),
            windows=windows,
            tags=tags,
        )
