"""One classification job split into stages: decode -> features -> model -> combine.

The local loop, the worker processes and the Ray pipeline all call these same stage functions,
so every execution path gives the same numbers for the same file. The numeric stages run with
one BLAS/OpenMP thread: a multi-threaded sum's order depends on the thread count, which would
make results differ in the last bits between a laptop, worker processes and Ray.

Several bundles form an ensemble: each member decodes at its own rate and windowing, and
their track probabilities are averaged (labels are matched by name, so members may order
their classes differently).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from threadpoolctl import threadpool_limits

from genrelab.aggregate import aggregate, choose_windows, count_windows, parse_aggregate
from genrelab.audio.level import LevelMeter, refuse_silence
from genrelab.errors import AudioError, GenrelabError, ModelError
from genrelab.inference import (
    BATCH_WINDOWS,
    Classification,
    Classifier,
    named_probabilities,
    window_results,
)
from genrelab.labels import resolve_labels, restrict

if TYPE_CHECKING:
    from genrelab.audio import AudioInfo

log = logging.getLogger(__name__)

#: Optional module (musicnn tags); used when present, never required.
TAGGING_MODULE = "genrelab.pretrained.tagging"

#: Probabilities are clipped here before the log, so "logits" stay finite.
LOG_FLOOR = 1e-12

Span = tuple[float, float]


def tagging_available() -> bool:
    return importlib.util.find_spec(TAGGING_MODULE) is not None


def signal_tags(y: np.ndarray, sr: int, k: int = 5) -> list[list[Any]] | None:
    """Top descriptive tags ``[[tag, score], ...]``, or ``None`` when there are none to give.

    Tags are an extra and must never fail a classification: audio the tagger refuses (too
    short for one patch) gets ``None``; an unexpected tagger failure is logged as well.
    """
    if not tagging_available():
        return None
    from genrelab.pretrained.tagging import top_tags

    try:
        return [[tag, float(score)] for tag, score in top_tags(y, sr, k=k)]
    except GenrelabError:
        return None
    except Exception as err:
        log.warning("tagging failed: %s: %s", type(err).__name__, err)
        return None


#: Evenly spread 3 s excerpts that stand for a whole track when tagging it.
TAG_EXCERPTS = 24
TAG_RATE = 16000


def track_tags(path: str | Path, k: int = 5) -> list[list[Any]] | None:
    """:func:`signal_tags` of a file, from at most ``TAG_EXCERPTS`` evenly spread 3 s excerpts.

    The file is streamed once (the windows were streamed too) and only the excerpts are
    kept, so tagging an hour-long file costs as little time and memory as a 72 s one.
    """
    if not tagging_available():
        return None
    from genrelab.audio import info, stream

    duration = info(path).duration
    size = 3 * TAG_RATE
    total = round(duration * TAG_RATE) if duration else size * TAG_EXCERPTS
    count = max(1, min(TAG_EXCERPTS, total // size))
    starts = np.linspace(0, max(total - size, 0), count).round().astype(int)
    excerpts, position = [], 0
    buffer = np.zeros(0, dtype=np.float32)
    for block in stream(path, sr=TAG_RATE):
        buffer = np.concatenate([buffer, block])
        while len(excerpts) < count and starts[len(excerpts)] + size <= position + buffer.size:
            lo = starts[len(excerpts)] - position
            excerpts.append(buffer[lo : lo + size])
        if len(excerpts) == count:
            break
        keep = min(starts[len(excerpts)] - position, buffer.size)
        buffer, position = buffer[keep:], position + keep
    if not excerpts:  # shorter than expected: tag what there is
        excerpts = [buffer]
    return signal_tags(np.concatenate(excerpts), TAG_RATE, k=k)


def log_probabilities(probabilities: dict[str, float]) -> dict[str, float]:
    """Natural-log scores of the track probabilities (the models expose no common raw logits)."""
    return {k: float(np.log(max(p, LOG_FLOOR))) for k, p in probabilities.items()}


def error_result(path: str | Path, err: BaseException) -> dict[str, Any]:
    """The ``{"path", "error"}`` record of a failed file, worded like ``classify_many``'s."""
    if isinstance(err, GenrelabError):
        return {"path": str(path), "error": str(err)}
    return {"path": str(path), "error": f"{path}: {type(err).__name__}: {err}"}


@dataclass(frozen=True)
class Windowing:
    """How one member cuts a file into model windows (plain data, so Ray tasks can carry it)."""

    sr: int
    window_s: float
    hop_s: float
    tail_s: float
    min_s: float

    @classmethod
    def of(cls, classifier: Classifier) -> Windowing:
        return cls(
            classifier.sr,
            classifier.window_s,
            classifier.hop_s,
            classifier.tail_s,
            classifier.min_s,
        )

    def check_length(self, n_samples: int, path: str) -> None:
        seconds = n_samples / self.sr
        if seconds < self.min_s:
            raise AudioError(
                f"{path} is {seconds:.1f} s long; this model needs at least {self.min_s:.1f} s"
            )

    def header(self, path: str | Path, method: str) -> AudioInfo | None:
        """What :meth:`windows` and :meth:`count` need of the file's header (``None`` for the
        aggregates that decode the whole file anyway): read once, passed to both."""
        from genrelab.audio import info

        return None if parse_aggregate(method).whole_file else info(path)

    def windows(
        self, path: str | Path, method: str, meta: AudioInfo | None = None
    ) -> Iterator[tuple[Span, np.ndarray]]:
        """``(span, samples)`` per window, streamed (``middle`` decodes only that window,
        ``random:N`` the whole file). Silence is refused once the last window is out (see
        :mod:`genrelab.audio.level`). ``meta``: the :meth:`header` if already read.
        """
        from genrelab.audio import iter_windows, load
        from genrelab.audio.windows import read_middle

        name = str(path)
        if method == "middle":
            w, samples = read_middle(path, self.sr, self.window_s)
            self.check_length(samples.size, name)
            refuse_silence(samples, name)
            yield (w.start_s, w.end_s), samples
            return
        if parse_aggregate(method).whole_file:  # random:N: placed by the whole length
            y, _ = load(path, sr=self.sr)
            self.check_length(y.size, name)
            refuse_silence(y, name)
            for w in choose_windows(
                method, y.size, self.sr, self.window_s, self.hop_s, self.tail_s
            ):
                yield (w.start_s, w.end_s), y[w.start : w.end]
            return
        meta = meta or self.header(path, method)
        if meta.duration is not None:
            self.check_length(round(meta.duration * self.sr), name)
        meter = LevelMeter()
        for w, samples in iter_windows(
            path, self.sr, self.window_s, self.hop_s, min_last_s=self.tail_s
        ):
            # A header's length can be wrong (a cut file): a window shorter than full is the
            # whole signal, so check it, with the path, before a front end refuses it.
            if w.length < round(self.window_s * self.sr):
                self.check_length(w.end, name)
            meter.add(samples)
            yield (w.start_s, w.end_s), samples
        meter.check(name)

    def count(self, meta: AudioInfo | None, method: str) -> int | None:
        """How many windows :meth:`windows` cuts from a file with this :meth:`header`
        (``None``: no length known)."""
        duration = None if meta is None else meta.duration
        n = None if duration is None else round(duration * self.sr)
        return count_windows(method, n, self.sr, self.window_s, self.hop_s, self.tail_s)

    def decode(self, path: str | Path, method: str) -> tuple[list[Span], np.ndarray]:
        """All windows of a file stacked ``(n_windows, n_samples)``: the Ray decode stage."""
        spans, samples = [], []
        for span, window in self.windows(path, method):
            spans.append(span)
            samples.append(window)
        if not samples:
            raise AudioError(f"{path}: no audio could be decoded")
        return spans, np.stack(samples)


@dataclass(frozen=True)
class EngineSpec:
    """What to build in every process: bundle paths (or ``"default"``) and the aggregate."""

    models: tuple[str, ...] = ("default",)
    aggregate: str = "mean"
    #: Add musicnn tags to each result when the tagger is installed.
    tags: bool = False
    #: Answer over these labels only (names or a preset; see :mod:`genrelab.labels`).
    labels: tuple[str, ...] | None = None

    def build(self) -> Engine:
        return Engine(self)


class Engine:
    """Loaded members of an :class:`EngineSpec` and the stage functions over them."""

    def __init__(self, spec: EngineSpec):
        if not spec.models:
            raise ModelError("give at least one model")
        self.spec = spec
        self.members = [Classifier(m) for m in spec.models]
        self.labels = resolve_labels(spec.labels, self.members[0].labels)
        self.windowing = [Windowing.of(c) for c in self.members]
        self._columns = []
        for name, member in zip(spec.models, self.members, strict=True):
            if sorted(member.labels) != sorted(self.members[0].labels):
                raise ModelError(
                    f"model {name} predicts {', '.join(member.labels)}; an ensemble needs the "
                    f"same genres as {spec.models[0]} ({', '.join(self.members[0].labels)})"
                )
            self._columns.append([member.labels.index(label) for label in self.labels])

    def features(
        self, member: int, windows: Sequence[np.ndarray], n_windows: int | None = None
    ) -> np.ndarray:
        """Front-end rows of some of a track's windows; ``n_windows``: the track's count."""
        c = self.members[member]
        with threadpool_limits(1):
            return c.frontend_for(n_windows)(list(windows), c.sr)

    def predict(self, member: int, inputs: np.ndarray) -> np.ndarray:
        """Window probabilities with columns in ``self.labels`` order."""
        with threadpool_limits(1):
            proba = self.members[member].bundle.model.predict_proba(inputs)
        return restrict(proba, self._columns[member])

    def member_proba(
        self, member: int, path: str | Path, keep_inputs: list[np.ndarray] | None = None
    ) -> tuple[list[Span], np.ndarray]:
        """Stream one member over a file, ``BATCH_WINDOWS`` windows at a time.

        ``keep_inputs`` collects the front end's rows (for tags read from them).
        """
        spans: list[Span] = []
        rows: list[np.ndarray] = []
        batch: list[np.ndarray] = []

        windowing, method = self.windowing[member], self.spec.aggregate
        meta = windowing.header(path, method)
        n_windows = windowing.count(meta, method)

        def flush() -> None:
            inputs = self.features(member, batch, n_windows)
            if keep_inputs is not None:
                keep_inputs.append(inputs)
            rows.append(self.predict(member, inputs))
            batch.clear()

        for span, samples in windowing.windows(path, method, meta):
            spans.append(span)
            batch.append(samples)
            if len(batch) == BATCH_WINDOWS:
                flush()
        if batch:
            flush()
        if not rows:
            raise AudioError(f"{path}: no audio could be decoded")
        return spans, np.concatenate(rows)

    def combine(self, path: str, parts: Sequence[tuple[list[Span], np.ndarray]]) -> dict[str, Any]:
        """Track result from each member's ``(spans, window probabilities)``."""
        method = self.spec.aggregate
        means = []
        for _, proba in parts:
            best, confidence, mean = aggregate(proba, "mean" if method == "middle" else method)
            means.append(mean)
        if len(parts) > 1:  # the ensemble picks the best averaged probability
            mean = np.mean(means, axis=0)
            best, confidence = int(np.argmax(mean)), float(np.max(mean))
        spans = parts[0][0]
        same_windows = all(p[0] == spans for p in parts)
        window_proba = np.mean([p[1] for p in parts], axis=0) if same_windows else None
        result = Classification(
            path=path,
            genre=self.labels[best],
            confidence=float(confidence),
            probabilities=named_probabilities(self.labels, mean),
            windows=[]
            if window_proba is None
            else window_results(self.labels, spans, window_proba),
            aggregate=method,
        ).to_dict()
        result["logits"] = log_probabilities(result["probabilities"])
        return result

    def classify(self, path: str | Path) -> dict[str, Any]:
        """A result dict, or ``{"path", "error"}``: one bad file never ends a batch."""
        tagger = self._tagging_member() if self.spec.tags else None
        inputs: list[np.ndarray] = []
        try:
            parts = [
                self.member_proba(m, path, inputs if m == tagger else None)
                for m in range(len(self.members))
            ]
            result = self.combine(str(path), parts)
        except Exception as err:
            return error_result(path, err)
        if self.spec.tags:
            tags = None if tagger is None else self.members[tagger].tags_from(inputs)
            result["tags"] = track_tags(path) if tags is None else [[t, float(p)] for t, p in tags]
        return result

    def _tagging_member(self) -> int | None:
        """A member whose front end already runs the musicnn tagger (tags then cost nothing)."""
        return next((i for i, m in enumerate(self.members) if m.reads_tags), None)
