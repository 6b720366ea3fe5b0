"""Training batches that are a pure function of ``(seed, epoch, batch index)``.

Because no batch depends on the ones before it, a run resumed at batch ``b`` of epoch ``e``
sees exactly the data an uninterrupted run would have seen, and batches can be made in
worker processes in any order. Audio sources cut seeded random windows of whole tracks each
epoch; validation inputs are every fixed window of each track, so tracks are scored the way
``genrelab classify`` answers (mean probability over windows).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from genrelab.features.frontends import Frontend


def batch_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator owned by one batch (augmentation choices, window offsets)."""
    return np.random.default_rng([seed, epoch, index])


def split_batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Near-equal batches of at most ``batch_size`` (never a lone example that breaks batch norm)."""
    return np.array_split(order, max(1, math.ceil(len(order) / batch_size)))


class BatchSource(Protocol):
    """What the trainer draws from: a fixed number of batches per epoch."""

    #: Class index of every training example, for class weights.
    labels: np.ndarray

    def __len__(self) -> int: ...

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and class indices of batch ``index`` of ``epoch``."""


class ArrayBatches:
    """In-memory inputs reshuffled every epoch."""

    def __init__(self, X: np.ndarray, labels: np.ndarray, batch_size: int, seed: int):
        self.X, self.labels, self.batch_size, self.seed = X, labels, batch_size, seed

    def __len__(self) -> int:
        return len(split_batches(np.arange(len(self.X)), self.batch_size))

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.X))
        rows = split_batches(order, self.batch_size)[index]
        return self.X[rows], self.labels[rows]


WaveAugment = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


class WindowBatches:
    """Random windows of decoded tracks, augmented as audio, then put through the front end.

    Each epoch draws ``windows_per_track`` seeded offsets per track and shuffles them. With an
    augmentation that changes length (tempo), ``context`` times a window is cut first and the
    augmented audio is trimmed back, so stretched windows are still full of music.
    """

    def __init__(
        self,
        tracks: Sequence[np.ndarray],
        labels: np.ndarray,
        sr: int,
        window_s: float,
        frontend: Frontend,
        batch_size: int,
        seed: int,
        windows_per_track: int,
        augment: WaveAugment | None = None,
        context: float = 1.0,
    ):
        self.tracks, self.labels, self.sr = tracks, labels, sr
        self.size = round(window_s * sr)
        self.frontend, self.batch_size, self.seed = frontend, batch_size, seed
        self.windows_per_track, self.augment, self.context = windows_per_track, augment, context

    def __len__(self) -> int:
        n = len(self.tracks) * self.windows_per_track
        return len(split_batches(np.arange(n), self.batch_size))

    def _plan(self, epoch: int) -> tuple[list[np.ndarray], np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        track = np.repeat(np.arange(len(self.tracks)), self.windows_per_track)
        free = np.array([max(0, self.tracks[t].size - self.size) for t in track])
        start = (rng.random(track.size) * (free + 1)).astype(np.int64)
        order = rng.permutation(track.size)
        return split_batches(order, self.batch_size), np.stack([track, start], axis=1)

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        batches, plan = self._plan(epoch)
        rows = plan[batches[index]]
        rng = batch_rng(self.seed, epoch, index)
        span = round(self.size * self.context)
        windows = []
        for t, start in rows:
            y = self.tracks[t][start : start + span]
            if self.augment is not None:
                y = self.augment(y, self.sr, rng)
            windows.append(y[: self.size])
        return self.frontend(windows, self.sr), self.labels[rows[:, 0]]


@dataclass
class ValidationSet:
    """Model inputs with their class index and the track (group) each came from."""

    X: np.ndarray
    labels: np.ndarray
    groups: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.groups is None:
            self.groups = np.arange(len(self.X))

    def track_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Group ids in first-seen order and each group's class index."""
        _, first = np.unique(self.groups, return_index=True)
        first = np.sort(first)
        return self.groups[first], self.labels[first]

    def track_proba(self, proba: np.ndarray) -> np.ndarray:
        """Mean window probabilities per group, in :meth:`track_labels` order."""
        ids, _ = self.track_labels()
        index = {g: i for i, g in enumerate(ids)}
        rows = np.array([index[g] for g in self.groups])
        sums = np.zeros((len(ids), proba.shape[1]))
        np.add.at(sums, rows, proba)
        return sums / np.bincount(rows, minlength=len(ids))[:, None]
