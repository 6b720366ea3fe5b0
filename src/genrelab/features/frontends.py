"""Front ends: how a model's input is made from one window of audio, named in the bundle card.

A card's ``frontend`` dict (``{"kind": "features", "feature_set": "gtzan57"}``) is turned into
a callable by :func:`build_frontend`. Other model families register their own kinds
(spectrograms, raw waveforms, pretrained embeddings) with :func:`register_frontend`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from genrelab.errors import ModelError


class Frontend(Protocol):
    """Turns windows into model inputs. It may also have ``prepare()``, which ``Classifier``
    runs in the background when it loads a bundle (e.g. to load compiled kernels)."""

    def __call__(self, windows: Sequence[np.ndarray], sr: int) -> np.ndarray:
        """Model inputs for a batch of equal-rate mono windows, one row per window."""


_FRONTENDS: dict[str, Callable[..., Frontend]] = {}

#: Front ends whose modules need optional packages; imported only when a card names them.
_LAZY: dict[str, str] = {
    "melspec": "genrelab.features.spectrogram",
    "logspec": "genrelab.features.spectrogram",
    "stft": "genrelab.features.spectrogram",
    "mfcc": "genrelab.features.spectrogram",
    "waveform": "genrelab.features.spectrogram",
    "musicnn": "genrelab.pretrained.frontends",
    "hf": "genrelab.pretrained.frontends",
    "raw_windows": "genrelab.experiments.ensemble",
}


def register_frontend(kind: str) -> Callable[[Callable[..., Frontend]], Callable[..., Frontend]]:
    def deco(factory: Callable[..., Frontend]) -> Callable[..., Frontend]:
        _FRONTENDS[kind] = factory
        return factory

    return deco


def build_frontend(spec: dict[str, Any]) -> Frontend:
    params = dict(spec)
    kind = params.pop("kind", None)
    if kind not in _FRONTENDS and kind in _LAZY:
        importlib.import_module(_LAZY[kind])
    if kind not in _FRONTENDS:
        raise ModelError(f"unknown front end {kind!r}; known: {', '.join(sorted(_FRONTENDS))}")
    try:
        return _FRONTENDS[kind](**params)
    except TypeError as err:
        raise ModelError(f"bad parameters for front end {kind!r}: {err}") from err


class FeatureFrontend:
    """Handcrafted feature vectors, one per window (windows side by side in threads)."""

    def __init__(self, feature_set: str = "gtzan57") -> None:
        from genrelab.features.sets import get_feature_set

        self.feature_set = get_feature_set(feature_set)

    def __call__(self, windows: Sequence[np.ndarray], sr: int) -> np.ndarray:
        from genrelab import parallel

        jobs = parallel.starmap(self.feature_set.fn, ((w, sr) for w in windows))
        return np.stack([job.result() for job in jobs])

    def prepare(self) -> None:
        self.feature_set.warm_up()


@register_frontend("features")
def feature_frontend(feature_set: str = "gtzan57") -> Frontend:
    return FeatureFrontend(feature_set)
