"""Analysis windows over a signal: fixed hops, the middle, random crops, and streamed files.

Window maths works on sample counts only, so it is shared by in-memory arrays and by
:func:`iter_windows`, which classifies hour-long files holding one window plus one block.

Rule for :func:`fixed_windows`: full-length windows start every hop; a remainder shorter
than a window is dropped unless ``min_last_s`` is given and the uncovered tail is at least that
long, in which case one more full window is added that ends exactly at the signal's end. A
signal shorter than one window gives a single window covering all of it (pad it if a model
needs a fixed length); an empty signal gives no windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from genrelab.audio.io import PathLike, info, stream


@dataclass(frozen=True)
class Window:
    """Samples ``[start, end)`` of a signal at ``sr`` Hz."""

    start: int
    end: int
    sr: int

    @property
    def start_s(self) -> float:
        return self.start / self.sr

    @property
    def end_s(self) -> float:
        return self.end / self.sr

    @property
    def length(self) -> int:
        return self.end - self.start

    def take(self, y: np.ndarray) -> np.ndarray:
        """This window of ``y`` (last axis is time), as a view."""
        return y[..., self.start : self.end]


def fixed_windows(
    n_samples: int,
    sr: int,
    length_s: float,
    hop_s: float | None = None,
    *,
    min_last_s: float | None = None,
) -> list[Window]:
    """Windows of ``length_s`` every ``hop_s`` (default: back to back); see the module rule."""
    size = _samples(length_s, sr, "length_s")
    hop = _samples(length_s if hop_s is None else hop_s, sr, "hop_s")
    if n_samples <= 0:
        return []
    if n_samples <= size:
        return [Window(0, n_samples, sr)]
    windows = [Window(s, s + size, sr) for s in range(0, n_samples - size + 1, hop)]
    if min_last_s is not None and n_samples - windows[-1].end >= max(1, round(min_last_s * sr)):
        windows.append(Window(n_samples - size, n_samples, sr))
    return windows


def middle_window(n_samples: int, sr: int, length_s: float) -> Window:
    """The centred window of ``length_s`` (the whole signal when it is shorter)."""
    size = _samples(length_s, sr, "length_s")
    if n_samples <= size:
        return Window(0, max(n_samples, 0), sr)
    start = (n_samples - size) // 2
    return Window(start, start + size, sr)


def read_middle(path: PathLike, sr: int, length_s: float) -> tuple[Window, np.ndarray]:
    """The file's centred window (as :func:`middle_window` of the decoded signal) and its samples.

    Only that window is decoded: the file is opened at its start (an exact seek for PCM
    formats), so a two-hour file costs what a 30 s one does. Resampled files may differ
    from cutting the whole resampled signal in the last bits near the window's edges
    (the resampler starts there). A file whose length the header does not give is
    streamed once to count its samples, holding one block at a time.
    """
    meta = info(path)
    native = meta.samplerate
    if meta.frames is not None:
        n = (2 * meta.frames * sr + native) // (2 * native)  # soxr's output length
    elif meta.duration is not None:
        n = round(meta.duration * sr)
    else:
        n = sum(block.shape[-1] for block in stream(path, sr))
    window = middle_window(n, sr, length_s)
    if window.length == 0:
        return window, np.zeros(0, dtype=np.float32)
    blocks = stream(path, sr, offset=window.start / sr, duration=window.length / sr)
    samples = np.concatenate(list(blocks))[: window.length]
    return Window(window.start, window.start + samples.size, sr), samples


def random_windows(
    n_samples: int, sr: int, length_s: float, count: int, seed: int | None
) -> list[Window]:
    """``count`` reproducible random crops, sorted by start; one whole window if too short."""
    size = _samples(length_s, sr, "length_s")
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if n_samples <= size:
        return [Window(0, max(n_samples, 0), sr)] if count else []
    starts = np.random.default_rng(seed).integers(0, n_samples - size + 1, size=count)
    return [Window(int(s), int(s) + size, sr) for s in np.sort(starts)]


def iter_windows(
    path: PathLike,
    sr: int | None,
    length_s: float,
    hop_s: float | None = None,
    *,
    min_last_s: float | None = None,
    mono: bool = True,
    block_seconds: float = 60.0,
) -> Iterator[tuple[Window, np.ndarray]]:
    """Yield ``(window, samples)`` of a file as :func:`fixed_windows` would cut the loaded signal.

    Only the samples still needed by a later window plus one decoded block are held, so a
    60-minute file is classified in bounded memory. Errors in the file raise here, eagerly.
    """
    rate = sr or info(path).samplerate
    size = _samples(length_s, rate, "length_s")
    hop = _samples(length_s if hop_s is None else hop_s, rate, "hop_s")
    blocks = stream(path, rate, mono, block_seconds)

    def generate() -> Iterator[tuple[Window, np.ndarray]]:
        buf: np.ndarray | None = None
        buf_start = seen = next_start = emitted = 0
        for block in blocks:
            buf = block if buf is None else np.concatenate([buf, block], axis=-1)
            seen += block.shape[-1]
            while next_start + size <= seen:
                lo = next_start - buf_start
                yield Window(next_start, next_start + size, rate), buf[..., lo : lo + size].copy()
                next_start += hop
                emitted += 1
            keep = min(next_start, seen - size)  # the end-aligned last window may need these
            if keep > buf_start:
                buf, buf_start = buf[..., keep - buf_start :], keep
        assert buf is not None  # stream() raises on a file without audio
        for w in fixed_windows(seen, rate, length_s, hop_s, min_last_s=min_last_s)[emitted:]:
            yield w, buf[..., w.start - buf_start : w.end - buf_start].copy()

    return generate()


def _samples(seconds: float, sr: int, name: str) -> int:
    n = round(seconds * sr)
    if n < 1:
        raise ValueError(f"{name} must be positive (at least one sample), got {seconds}")
    return n
