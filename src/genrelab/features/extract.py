"""Feature vectors per analysis window, for one signal or a whole dataset of files.

Windows are cut by :func:`genrelab.audio.fixed_windows` with the hops classification uses, so
a model sees the same kind of rows at training and at classification time; a training track's
short tail is dropped rather than given the end-aligned window classification adds
(:class:`genrelab.pipeline.Windowing`), which would repeat most of the previous window.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from genrelab.audio import fixed_windows, load
from genrelab.errors import AudioError, GenrelabError, ModelError
from genrelab.features.cache import FeatureCache
from genrelab.features.sets import FeatureSet, get_feature_set

PathLike = str | os.PathLike[str]


def _seconds(window_s: float | None, hop_s: float | None) -> tuple[float | None, float | None]:
    """Validated ``(window_s, hop_s)`` as floats; a missing hop means back-to-back windows."""
    if window_s is None:
        if hop_s is not None:
            raise ModelError("hop_s needs window_s: without a window the whole clip is one row")
        return None, None
    hop_s = window_s if hop_s is None else hop_s
    for name, value in (("window_s", window_s), ("hop_s", hop_s)):
        if not (isinstance(value, Real) and math.isfinite(value) and value > 0):
            raise ModelError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(window_s), float(hop_s)


def window_features(
    y: np.ndarray,
    sr: int,
    feature_set: str | FeatureSet = "gtzan57",
    window_s: float | None = None,
    hop_s: float | None = None,
) -> np.ndarray:
    """Features of mono ``y``: ``(n_windows, n_features)`` float64, one row per window.

    ``window_s=None`` gives one row for the whole clip; otherwise full windows every ``hop_s``
    (default ``window_s``), dropping a shorter tail, and one row for a clip shorter than a window.
    """
    fs = get_feature_set(feature_set)
    window_s, hop_s = _seconds(window_s, hop_s)
    y = np.asarray(y)
    if y.ndim != 1:
        raise AudioError(f"expected a mono (1-D) signal, got an array of shape {y.shape}")
    if y.size == 0:
        raise AudioError("the signal is empty")
    if not np.isfinite(y).all():
        raise AudioError("the signal contains NaN or infinite samples")
    if window_s is None:
        chunks = [y]
    else:
        chunks = [w.take(y) for w in fixed_windows(y.size, sr, window_s, hop_s)]
    out = np.empty((len(chunks), len(fs.names)), dtype=np.float64)
    for row, chunk in zip(out, chunks, strict=True):
        values = np.asarray(fs.fn(chunk, sr), dtype=np.float64)
        if values.shape != row.shape:
            raise ModelError(
                f"feature set {fs.name!r} returned {values.shape} values, expected {row.shape}"
            )
        row[:] = values
    return out


def _file_features(
    path: PathLike,
    fs: FeatureSet,
    window_s: float | None,
    hop_s: float | None,
    sr: int,
    cache: FeatureCache | None,
) -> np.ndarray:
    key = None
    if cache is not None:
        key = cache.key(path, fs, sr=sr, window_s=window_s, hop_s=hop_s)
        if (hit := cache.load(fs, key)) is not None:
            return hit
    y, _ = load(path, sr=sr)
    values = window_features(y, sr, fs, window_s, hop_s)
    if cache is not None and key is not None:
        cache.save(fs, key, values)
    return values


def _guarded(
    index: int,
    path: PathLike,
    fs: FeatureSet,
    window_s: float | None,
    hop_s: float | None,
    sr: int,
    cache: FeatureCache | None,
) -> tuple[int, np.ndarray | None, str | None]:
    """One file's features, or the reason it failed: one bad file must not stop a dataset."""
    try:
        return index, _file_features(path, fs, window_s, hop_s, sr, cache), None
    except GenrelabError as err:
        return index, None, str(err)
    except Exception as err:
        return index, None, f"{type(err).__name__}: {err}"


def extract_dataset(
    paths: Iterable[PathLike],
    feature_set: str | FeatureSet = "gtzan57",
    window_s: float | None = None,
    hop_s: float | None = None,
    sr: int = 22050,
    cache: FeatureCache | None = None,
    n_jobs: int = 1,
    progress: bool = True,
) -> tuple[list[np.ndarray | None], list[tuple[str, str]]]:
    """Window features of every file, resampled to ``sr``.

    Returns ``(per_file, errors)``: ``per_file[i]`` is the ``(n_windows, n_features)`` array of
    ``paths[i]``, or None when it failed, and ``errors`` lists ``(path, message)`` for those.
    ``n_jobs`` > 1 (or -1 for all cores) spreads files over processes. With a ``cache``, files
    already extracted with the same content and parameters are read back without decoding.
    """
    fs = get_feature_set(feature_set)
    window_s, hop_s = _seconds(window_s, hop_s)
    if not isinstance(sr, Integral) or sr <= 0:
        raise ModelError(f"sr must be a positive integer sample rate, got {sr!r}")
    if n_jobs == 0:
        raise ModelError("n_jobs must be a positive number of processes or -1 for all cores")
    files = list(paths)
    args = (fs, window_s, hop_s, int(sr), cache)
    results: Iterator[tuple[int, np.ndarray | None, str | None]]
    if n_jobs == 1:
        results = (_guarded(i, p, *args) for i, p in enumerate(files))
    else:
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        results = parallel(delayed(_guarded)(i, p, *args) for i, p in enumerate(files))

    per_file: list[np.ndarray | None] = [None] * len(files)
    failed: dict[int, str] = {}
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not progress,
    )
    with bar:
        task = bar.add_task(f"{fs.name} features", total=len(files))
        for i, values, error in results:
            if error is None:
                per_file[i] = values
            else:
                failed[i] = error
            bar.advance(task)
    return per_file, [(str(files[i]), failed[i]) for i in sorted(failed)]
