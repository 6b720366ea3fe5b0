"""Named feature sets: a fixed, named layout of per-clip values and the function computing them.

A set's name, ``version`` and names go into cache keys, so bump ``version`` whenever a set's
values change for the same audio.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from genrelab.errors import ModelError
from genrelab.features.columns import GTZAN_FEATURE_NAMES
from genrelab.features.fast import gtzan_features as _gtzan57

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class FeatureSet:
    """``fn(y, sr)`` returns ``len(names)`` float values for a mono float signal."""

    name: str
    names: tuple[str, ...]
    fn: Callable[[np.ndarray, int], np.ndarray]
    description: str = ""
    version: str = "1"

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name):
            raise ModelError(
                f"invalid feature set name {self.name!r}: use letters, digits, '_', '.' or '-'"
            )
        if not self.names or len(set(self.names)) != len(self.names):
            raise ModelError(f"feature set {self.name!r} needs unique, non-empty feature names")

    def warm_up(self) -> None:
        """Compute once on a second of silence: loads compiled kernels before real audio."""
        self.fn(np.zeros(22050, dtype=np.float32), 22050)


FEATURE_SETS: dict[str, FeatureSet] = {}
#: Sets whose modules import librosa register themselves when first asked for, so that
#: classifying with a gtzan57 model never pays librosa's import.
_LAZY_SETS = {"extended": "genrelab.features.extended"}


def register_feature_set(feature_set: FeatureSet, *, replace: bool = False) -> FeatureSet:
    """Make ``feature_set`` selectable by name; refuse to shadow an existing set silently."""
    if feature_set.name in FEATURE_SETS and not replace:
        raise ModelError(
            f"feature set {feature_set.name!r} is already registered; pass replace=True to swap it"
        )
    FEATURE_SETS[feature_set.name] = feature_set
    return feature_set


def get_feature_set(name: str | FeatureSet) -> FeatureSet:
    """The registered set called ``name`` (a ``FeatureSet`` passes through unchanged)."""
    if isinstance(name, FeatureSet):
        return name
    if name not in FEATURE_SETS and name in _LAZY_SETS:
        importlib.import_module(_LAZY_SETS[name])
    try:
        return FEATURE_SETS[name]
    except KeyError:
        known = ", ".join(available_feature_sets())
        raise ModelError(f"unknown feature set {name!r}; known sets: {known}") from None


def available_feature_sets() -> list[str]:
    return sorted({*FEATURE_SETS, *_LAZY_SETS})


register_feature_set(
    FeatureSet(
        name="gtzan57",
        names=GTZAN_FEATURE_NAMES,
        fn=_gtzan57,
        description="The 57 features of the Kaggle GTZAN tables (librosa means/variances, tempo).",
    )
)
