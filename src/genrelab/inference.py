"""Classify audio with a model bundle: decode, window, front end, model, aggregate."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from genrelab import parallel
from genrelab.aggregate import aggregate, choose_windows, count_windows, parse_aggregate
from genrelab.audio.level import LevelMeter, refuse_silence
from genrelab.errors import AudioError, GenrelabError
from genrelab.labels import resolve_labels, restrict
from genrelab.models.bundle import Bundle, load_bundle

#: Windows sent through the front end and the model at once (bounds memory on long files).
BATCH_WINDOWS = 8


@dataclass
class WindowResult:
    start: float
    end: float
    genre: str
    confidence: float
    probabilities: dict[str, float]


@dataclass
class Classification:
    path: str
    genre: str
    confidence: float
    probabilities: dict[str, float]
    windows: list[WindowResult] = field(default_factory=list)
    aggregate: str = "mean"
    #: Descriptive tags with scores (e.g. musicnn's), when the classifier computes them.
    tags: list[tuple[str, float]] | None = None

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        return sorted(self.probabilities.items(), key=lambda kv: -kv[1])[:k]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def named_probabilities(labels: list[str], row: np.ndarray) -> dict[str, float]:
    return {label: float(p) for label, p in zip(labels, row, strict=True)}


def window_results(
    labels: list[str], spans: list[tuple[float, float]], proba: np.ndarray
) -> list[WindowResult]:
    """The timeline: each window's span, winning genre, confidence and probabilities."""
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


class Classifier:
    """A loaded bundle plus its front end, ready to classify files or signals."""

    def __init__(
        self,
        bundle: Bundle | str | Path | None = None,
        labels: str | Sequence[str] | None = None,
    ):
        """``labels``: answer over these of the bundle's labels only (names or a preset such
        as ``"gtzan"``; see :mod:`genrelab.labels`), probabilities renormalised."""
        from genrelab.features.frontends import build_frontend

        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        card = self.bundle.card
        self._answer_over(labels)
        self.sr = int(card.sample_rate)
        self.window_s = float(card.windowing.get("window_s", 30.0))
        self.hop_s = float(card.windowing.get("hop_s", self.window_s))
        self.min_s = float(card.windowing.get("min_s", 0.0))
        self.frontend = build_frontend(card.frontend)
        if callable(prepare := getattr(self.frontend, "prepare", None)):
            # Warm up in the background while the caller opens and decodes its first file.
            parallel.submit(prepare)
        # A tail at least a third of a window long gets one more, end-aligned window.
        self.tail_s = self.window_s / 3

    def classify(
        self, audio: str | Path | np.ndarray, sr: int | None = None, aggregate: str = "mean"
    ) -> Classification:
        """A file (streamed) or a mono signal at ``sr`` Hz (required for an array)."""
        if isinstance(audio, str | Path):
            return self.classify_file(audio, aggregate)
        if sr is None:
            raise AudioError("give sr, the sample rate of the signal")
        return self.classify_signal(np.asarray(audio), sr, aggregate)

    def restricted(self, labels: str | Sequence[str] | None) -> Classifier:
        """This classifier answering over ``labels`` only; shares the loaded model."""
        other = copy.copy(self)
        other._answer_over(labels)
        return other

    def _answer_over(self, labels: str | Sequence[str] | None) -> None:
        """Set the labels answered over and their columns in the model's output."""
        card_labels = list(self.bundle.card.labels)
        self.labels = resolve_labels(labels, card_labels)
        self.columns = [card_labels.index(label) for label in self.labels]

    @property
    def reads_tags(self) -> bool:
        """Whether the front end's rows carry musicnn tags (see :meth:`tags_from`)."""
        return callable(getattr(self.frontend, "track_tags", None))

    def tags_from(self, inputs: list[np.ndarray], k: int = 5) -> list[tuple[str, float]] | None:
        """A track's top tags from the front end's rows for its windows: no second pass."""
        if not self.reads_tags or not inputs:
            return None
        return self.frontend.track_tags(np.concatenate(inputs), k)

    def frontend_for(self, n_windows: int | None) -> Any:
        """The front end for a track of ``n_windows`` windows (``None``: not known up front).

        A musicnn front end with a patch budget hears short tracks through more patches per
        window; every other front end is the same for every track.
        """
        adapt = getattr(self.frontend, "for_track", None)
        return self.frontend if adapt is None or n_windows is None else adapt(n_windows)

    def _predict(
        self,
        windows: list[np.ndarray],
        keep_inputs: list[np.ndarray] | None = None,
        frontend: Any = None,
    ) -> np.ndarray:
        # One BLAS thread: a matrix product's last bits depend on the thread count, and
        # the windows already run in parallel (genrelab.parallel).
        with threadpool_limits(1):
            inputs = (frontend or self.frontend)(windows, self.sr)
            if keep_inputs is not None:
                keep_inputs.append(inputs)
            return restrict(self.bundle.model.predict_proba(inputs), self.columns)

    def _finish(
        self,
        path: str,
        spans: list[tuple[float, float]],
        proba: np.ndarray,
        method: str,
        inputs: list[np.ndarray],
    ) -> Classification:
        best, confidence, mean = aggregate(proba, "mean" if method == "middle" else method)
        return Classification(
            path=path,
            genre=self.labels[best],
            confidence=confidence,
            probabilities=named_probabilities(self.labels, mean),
            windows=window_results(self.labels, spans, proba),
            aggregate=method,
            tags=self.tags_from(inputs),
        )

    def _check_length(self, n_samples: int, path: str) -> None:
        seconds = n_samples / self.sr
        if seconds < self.min_s:
            raise AudioError(
                f"{path or 'audio'} is {seconds:.1f} s long; this model needs at least {self.min_s:.1f} s"
            )

    def classify_signal(
        self, y: np.ndarray, sr: int, aggregate: str = "mean", path: str = ""
    ) -> Classification:
        """Classify an in-memory mono signal (resampled to the model's rate if needed)."""
        y = np.asarray(y, dtype=np.float32)
        if sr != self.sr:
            import soxr

            y = soxr.resample(y, sr, self.sr, quality="HQ").astype(np.float32)
        self._check_length(y.size, path)
        refuse_silence(y, path)
        spans = choose_windows(aggregate, y.size, self.sr, self.window_s, self.hop_s, self.tail_s)
        inputs = self._keep()
        frontend = self.frontend_for(len(spans))
        proba = self._predict([y[w.start : w.end] for w in spans], inputs, frontend)
        spans_s = [(w.start_s, w.end_s) for w in spans]
        return self._finish(path, spans_s, proba, aggregate, inputs or [])

    def classify_file(self, path: str | Path, aggregate: str = "mean") -> Classification:
        """Classify a file, streaming its windows so long files stay within bounded memory."""
        from genrelab.audio import info, iter_windows, load
        from genrelab.audio.windows import read_middle

        path_str = str(path)
        if aggregate == "middle":  # decode only the middle window
            window, y = read_middle(path, self.sr, self.window_s)
            self._check_length(y.size, path_str)
            refuse_silence(y, path_str)
            inputs = self._keep()
            proba = self._predict([y], inputs, self.frontend_for(1))
            spans = [(window.start_s, window.end_s)]
            return self._finish(path_str, spans, proba, "middle", inputs or [])
        if parse_aggregate(aggregate).whole_file:  # random:N: placed by the whole length
            y, _ = load(path, sr=self.sr)
            return self.classify_signal(y, self.sr, aggregate, path_str)
        meta = info(path)
        n_samples = None if meta.duration is None else round(meta.duration * self.sr)
        if n_samples is not None:
            self._check_length(n_samples, path_str)
        n_windows = count_windows(
            aggregate, n_samples, self.sr, self.window_s, self.hop_s, self.tail_s
        )
        frontend = self.frontend_for(n_windows)
        spans: list[tuple[float, float]] = []
        rows: list[np.ndarray] = []
        batch: list[np.ndarray] = []
        inputs = self._keep()
        meter = LevelMeter()
        windows = iter_windows(path, self.sr, self.window_s, self.hop_s, min_last_s=self.tail_s)
        for window, samples in windows:
            # A header's length can be wrong (a cut file): a window shorter than full is the
            # whole signal, so check it, with the path, before a front end refuses it.
            if window.length < round(self.window_s * self.sr):
                self._check_length(window.end, path_str)
            spans.append((window.start_s, window.end_s))
            meter.add(samples)
            batch.append(samples)
            if len(batch) == BATCH_WINDOWS:
                rows.append(self._predict(batch, inputs, frontend))
                batch = []
        if batch:
            rows.append(self._predict(batch, inputs, frontend))
        if not rows:
            raise AudioError(f"{path_str}: no audio could be decoded")
        meter.check(path_str)
        return self._finish(path_str, spans, np.concatenate(rows), aggregate, inputs or [])

    def _keep(self) -> list[np.ndarray] | None:
        """Where to keep the front end's rows: only when tags can be read from them."""
        return [] if self.reads_tags else None

    def classify_many(
        self,
        paths: Iterable[str | Path],
        aggregate: str = "mean",
        on_result: Callable[[dict[str, Any]], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Yield one dict per file; a failure becomes ``{"path", "error"}`` and the loop goes on."""
        for path in paths:
            try:
                result: dict[str, Any] = self.classify_file(path, aggregate).to_dict()
            except GenrelabError as err:
                result = {"path": str(path), "error": str(err)}
            except Exception as err:  # one bad file must never end a batch
                result = {"path": str(path), "error": f"{path}: {type(err).__name__}: {err}"}
            if on_result is not None:
                on_result(result)
            yield result
