"""One bundle from audio to an answer: windows -> front end -> model -> aggregation.

:class:`Pipeline` is made from a bundle's card and is the only code that applies a front end
and a model to windows and turns window probabilities into a :class:`Result`. The Python API,
the CLI, the HTTP service, batch worker processes, Ray stages, evaluation and training-data
preparation all go through it, so they hear a track the same way and give the same numbers.

Windows go through the front end and the model ``BATCH_WINDOWS`` at a time, cut at the same
boundaries whatever the caller (streamed file, in-memory signal, a Ray stage holding all of a
file's windows): a batch's size can change a matrix product's last bits, so fixed batches
keep every surface identical to the bit. The numeric stages run with one BLAS thread for the
same reason (the windows already run in parallel: :mod:`genrelab.parallel`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from genrelab import parallel
from genrelab.aggregate import aggregate as aggregate_windows
from genrelab.errors import AudioError
from genrelab.labels import resolve_labels, restrict
from genrelab.models.bundle import DEFAULT_BUNDLE, Bundle, load_bundle
from genrelab.pipeline.result import Result, named_probabilities, timeline
from genrelab.pipeline.windowing import Source, Windowing

#: Windows sent through the front end and the model at once (bounds memory on long files).
BATCH_WINDOWS = 8

Spans = list[tuple[float, float]]


@dataclass
class Heard:
    """What one pipeline heard in a track: window spans, window probabilities (columns in the
    pipeline's ``labels`` order) and, when kept, the front end's rows."""

    spans: Spans
    proba: np.ndarray
    inputs: np.ndarray | None = None


def model_id(model: Bundle | str | Path | None) -> str:
    """How results name a model: ``default``, a bundle folder's name, or a card's model."""
    if isinstance(model, Bundle):
        return model.card.model
    if model is None or str(model) == DEFAULT_BUNDLE:
        return DEFAULT_BUNDLE
    return Path(model).name


def batches(n: int) -> list[slice]:
    """The fixed batches of ``n`` windows (see the module docstring)."""
    return [slice(i, min(i + BATCH_WINDOWS, n)) for i in range(0, n, BATCH_WINDOWS)]


class Pipeline:
    """A loaded bundle with its windowing and front end, answering over ``labels``.

    Parameters
    ----------
    bundle : Bundle, str, Path or None
        A loaded bundle, a bundle folder, or ``None``/``"default"`` for the embedded model.
    labels : str or sequence of str, optional
        Answer over these of the bundle's labels only (names or a preset such as
        ``"gtzan"``), probabilities renormalised, in the model's order.

    Examples
    --------
    >>> from genrelab import synth
    >>> pipe = Pipeline(labels="gtzan")
    >>> result = pipe.classify(synth.song(4.0, style="rock", seed=1), sr=22050)
    >>> result.genre in pipe.labels and len(result.probabilities) == 10
    True
    """

    def __init__(
        self, bundle: Bundle | str | Path | None = None, labels: str | Sequence[str] | None = None
    ):
        from genrelab.features.frontends import build_frontend

        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.model_id = model_id(bundle)
        self.windowing = Windowing.from_card(self.card.sample_rate, self.card.windowing)
        self.frontend = build_frontend(self.card.frontend)
        if callable(prepare := getattr(self.frontend, "prepare", None)):
            # Warm up in the background while the caller opens and decodes its first file.
            parallel.submit(prepare)
        self._answer_over(labels)

    @property
    def card(self) -> Any:
        return self.bundle.card

    @property
    def sr(self) -> int:
        return self.windowing.sr

    def restricted(self, labels: str | Sequence[str] | None) -> Pipeline:
        """This pipeline answering over ``labels`` only; shares the loaded model."""
        other = copy.copy(self)
        other._answer_over(labels)
        return other

    def _answer_over(self, labels: str | Sequence[str] | None) -> None:
        card_labels = list(self.card.labels)
        # The model's order, as ever; ensemble members are matched by name (Classifier.combine).
        self.labels = resolve_labels(labels, card_labels)
        self.columns = [card_labels.index(label) for label in self.labels]

    # -- stages (Ray runs them in separate processes) ------------------------------------------

    def frontend_for(self, n_windows: int | None) -> Any:
        """The front end for a track of ``n_windows`` windows (``None``: not known up front).

        A musicnn front end with a patch budget hears short tracks through more patches per
        window; every other front end is the same for every track.
        """
        adapt = getattr(self.frontend, "for_track", None)
        return self.frontend if adapt is None or n_windows is None else adapt(n_windows)

    def features(self, windows: Sequence[np.ndarray], n_windows: int | None = None) -> np.ndarray:
        """Front-end rows of a track's windows (``n_windows``: the track's window count)."""
        frontend = self.frontend_for(n_windows)
        windows = list(windows)
        with threadpool_limits(1):
            return _stack([frontend(windows[b], self.sr) for b in batches(len(windows))])

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Window probabilities, columns in ``labels`` order."""
        with threadpool_limits(1):
            parts = [self.bundle.model.predict_proba(inputs[b]) for b in batches(len(inputs))]
        return restrict(np.concatenate(parts), self.columns)

    @property
    def reads_tags(self) -> bool:
        """Whether the front end's rows carry musicnn tags (see :meth:`tags_from`)."""
        return callable(getattr(self.frontend, "track_tags", None))

    def tags_from(self, inputs: np.ndarray | None, k: int = 5) -> list[tuple[str, float]] | None:
        """A track's top tags read from the front end's rows: no second network pass."""
        if not self.reads_tags or inputs is None or len(inputs) == 0:
            return None
        return self.frontend.track_tags(inputs, k)

    # -- a whole track -------------------------------------------------------------------------

    def hear(
        self,
        source: Source,
        aggregate: str = "mean",
        name: str = "",
        keep_inputs: bool = False,
    ) -> Heard:
        """Stream ``source`` (a file, or a signal at :attr:`sr`) through front end and model,
        one batch of windows at a time, so long files stay in bounded memory."""
        meta = self.windowing.header(source, aggregate)
        n_windows = self.windowing.count_in(source, aggregate, meta)
        spans: Spans = []
        rows: list[np.ndarray] = []
        kept: list[np.ndarray] = []
        batch: list[np.ndarray] = []

        def flush() -> None:
            inputs = self.features(batch, n_windows)
            rows.append(self.predict(inputs))
            if keep_inputs:
                kept.append(inputs)
            batch.clear()

        for window, samples in self.windowing.windows(source, aggregate, name, meta):
            spans.append((window.start_s, window.end_s))
            batch.append(samples)
            if len(batch) == BATCH_WINDOWS:
                flush()
        if batch:
            flush()
        return Heard(spans, np.concatenate(rows), _stack(kept) if keep_inputs else None)

    def signal(self, y: np.ndarray, sr: int | None) -> np.ndarray:
        """A mono signal at this pipeline's rate (resampled with soxr if needed)."""
        if sr is None:
            raise AudioError("give sr, the sample rate of the signal")
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise AudioError(f"give a mono signal (one dimension), not shape {y.shape}")
        if sr == self.sr:
            return y
        import soxr

        return soxr.resample(y, sr, self.sr, quality="HQ").astype(np.float32)

    def answer(
        self,
        path: str | None,
        heard: Heard,
        aggregate: str = "mean",
        tags: list[tuple[str, float]] | None = None,
    ) -> Result:
        """Aggregate window probabilities into the track's :class:`Result`."""
        best, confidence, mean = aggregate_windows(heard.proba, aggregate)
        return Result(
            path=path,
            model=self.model_id,
            labels=list(self.labels),
            aggregate=aggregate,
            genre=self.labels[best],
            confidence=confidence,
            probabilities=named_probabilities(self.labels, mean),
            windows=timeline(self.labels, heard.spans, heard.proba),
            tags=tags,
        )

    def tags_for(
        self, source: Source, inputs: np.ndarray | None, tags: bool | None
    ) -> list[tuple[str, float]] | None:
        """A track's tags under ``tags`` (see :meth:`Classifier.classify`): read from the front
        end's rows when it computes them, else, only when asked, from a separate tagger pass."""
        from genrelab.pipeline.tags import tags_of

        found = None if tags is False else self.tags_from(inputs)
        return tags_of(source, self.sr) if found is None and tags else found

    def classify(
        self,
        track: str | Path | np.ndarray,
        sr: int | None = None,
        *,
        aggregate: str = "mean",
        tags: bool | None = None,
        name: str = "",
    ) -> Result:
        """This bundle's answer for a file or a mono signal, as :meth:`Classifier.classify`."""
        is_file = isinstance(track, str | Path)
        source = track if is_file else self.signal(track, sr)
        path = name or (str(track) if is_file else None)
        heard = self.hear(source, aggregate, path or "", tags is not False and self.reads_tags)
        return self.answer(path, heard, aggregate, self.tags_for(source, heard.inputs, tags))


def _stack(rows: list[Any]) -> Any:
    """Batches of front-end rows joined: arrays, or a front end's own batch type that adds
    (a bundle ensemble's ``RawWindows``)."""
    if len(rows) == 1:
        return rows[0]
    return np.concatenate(rows) if isinstance(rows[0], np.ndarray) else sum(rows[1:], rows[0])
