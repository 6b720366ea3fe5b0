"""Descriptive musicnn tags (genre, mood, instrument, era) for whole tracks and as a timeline.

The network tags 3 s patches; a track's tags are the patch probabilities averaged over the
whole track, and a timeline averages them over consecutive segments. Only onnxruntime is
needed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.errors import ModelError
from genrelab.pretrained.musicnn_onnx import HOP, PATCH_FRAMES, SR, MusicnnTagger, patches
from genrelab.pretrained.pooling import spread

DEFAULT_MODEL = "MSD_musicnn"
#: Seconds between the starts of back-to-back patches (187 frames of 16 ms).
PATCH_S = PATCH_FRAMES * HOP / SR

Tags = list[tuple[str, float]]


@cache
def tagger(model: str = DEFAULT_MODEL) -> MusicnnTagger:
    """One ONNX session per model and process."""
    return MusicnnTagger(model)


def ranked(probabilities: np.ndarray, names: list[str], k: int) -> Tags:
    """The ``k`` most probable tags, best first (ties keep the model's tag order)."""
    if k < 1:
        raise ModelError(f"the number of tags must be at least 1, got {k}")
    best = np.argsort(-probabilities, kind="stable")[:k]
    return [(names[i], round(float(probabilities[i]), 4)) for i in best]


def top_tags(
    y: np.ndarray,
    sr: int,
    k: int = 5,
    model: str = DEFAULT_MODEL,
    max_patches: int | None = None,
) -> Tags:
    """``k`` tags of mono ``y`` at ``sr`` Hz averaged over the whole track (MSD musicnn).

    ``max_patches`` bounds the cost on long tracks: that many evenly spread 3 s patches
    stand for the track (about 45 ms of network time each on two cores).
    """
    x = patches(y, sr)
    if max_patches is not None:
        x = x[spread(len(x), max_patches)]
    run = tagger(model)
    return ranked(run.predict(x)["taggram"].mean(axis=0), run.tag_names, k)


@dataclass
class TagSegment:
    start: float
    end: float
    tags: Tags


@dataclass
class TagReport:
    path: str
    model: str
    tags: Tags
    segments: list[TagSegment] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tag_signal(
    y: np.ndarray,
    sr: int,
    k: int = 5,
    model: str = DEFAULT_MODEL,
    segment_s: float | None = None,
    path: str = "",
) -> TagReport:
    """Whole-track tags plus a timeline: every 3 s patch, or segments of about ``segment_s``.

    Segments are whole patches (``segment_s=10`` gives three, 8.98 s), so each segment's tags
    are a plain mean of patch outputs; the last segment may be shorter, and a trailing part
    shorter than one patch is not tagged.
    """
    if segment_s is not None and segment_s <= 0:
        raise ModelError(f"segment length must be positive, got {segment_s}")
    taggram, names = tagger(model).tags(y, sr)
    starts = np.arange(len(taggram)) * PATCH_S
    segment = np.arange(len(taggram)) // max(1, round((segment_s or PATCH_S) / PATCH_S))
    segments = [
        TagSegment(
            round(float(starts[members[0]]), 3),
            round(float(starts[members[-1]] + PATCH_S), 3),
            ranked(taggram[members].mean(axis=0), names, k),
        )
        for members in (np.flatnonzero(segment == s) for s in np.unique(segment))
    ]
    return TagReport(path, model, ranked(taggram.mean(axis=0), names, k), segments)


def tag_file(
    path: str | Path, k: int = 5, model: str = DEFAULT_MODEL, segment_s: float | None = None
) -> TagReport:
    """:func:`tag_signal` of a file decoded at musicnn's 16 kHz."""
    from genrelab.audio import load

    y, sr = load(path, sr=SR)
    return tag_signal(y, sr, k, model, segment_s, str(path))
