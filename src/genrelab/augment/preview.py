"""Hear and see what augmentations do: one audio file per variant and a figure of all of them."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.augment import BATCH_NAMES, WAVE_NAMES, build_one

#: Every single augmentation with its default ranges (mixup needs a batch, so it is left out).
DEFAULT_SPECS = (*WAVE_NAMES, "specaugment")


def _mel_db(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    return librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=96), ref=1.0)


class _Recorder:
    """The caller's generator, noting the draws an augmentation makes (same values out).

    ``uniform(low, high)`` draws are kept with their bounds, so each can be matched to the
    setting it was drawn for; ``random()`` is the "does it fire" coin.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self.coins: list[float] = []
        self.draws: list[tuple[float, float, float]] = []
        self.picked: list[str] = []
        self.picked_count: int | None = None

    def random(self, *args: Any, **kwargs: Any) -> Any:
        value = self._rng.random(*args, **kwargs)
        if not args and not kwargs:
            self.coins.append(float(value))
        return value

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None) -> Any:
        value = self._rng.uniform(low, high, size)
        if size is None:
            self.draws.append((float(low), float(high), float(value)))
        return value

    def permutation(self, x: Any) -> Any:
        value = self._rng.permutation(x)
        self.picked = [str(v) for v in value]
        return value

    def integers(self, *args: Any, **kwargs: Any) -> Any:
        value = self._rng.integers(*args, **kwargs)
        if np.ndim(value) == 0:
            self.picked_count = int(value)
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rng, name)


def drawn_settings(augmentation: Any, recorder: _Recorder) -> str:
    """What one application drew: ``semitones=-1.3``, ``not applied`` or a bundle's members."""
    p = getattr(augmentation, "p", 1.0)
    if recorder.coins and recorder.coins[0] >= p:
        return f"not applied (p={p:g})"
    if recorder.picked_count is not None and recorder.picked:
        return "chain: " + ", ".join(recorder.picked[: recorder.picked_count])
    parts = []
    for f in dataclasses.fields(augmentation):
        bounds = getattr(augmentation, f.name)
        if not isinstance(bounds, tuple) or len(bounds) != 2:
            continue
        low, high = map(float, bounds)
        for lo, hi, value in recorder.draws:
            if np.isclose([lo, hi], [low, high]).all():
                parts.append(f"{f.name}={value:.3g}")
                break
            if low > 0 and np.isclose([lo, hi], np.log([low, high])).all():
                parts.append(f"{f.name}={np.exp(value):.4g}")
                break
    return ", ".join(parts)


def _file_name(index: int, spec: str) -> str:
    return f"{index:02d}-{re.sub(r'[^A-Za-z0-9_.=-]+', '_', spec)}"


def write_preview(
    y: np.ndarray, sr: int, folder: Path, specs: Sequence[str] = DEFAULT_SPECS, seed: int = 0
) -> list[Path]:
    """Write ``00-original.wav``, one WAV per audio augmentation and ``preview.png``.

    Batch augmentations (SpecAugment) act on spectrograms, so they appear in the figure only.
    """
    import soundfile as sf

    from genrelab.atomic import atomic_path
    from genrelab.evaluation.plots import _figure, save_figure

    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "00-original.wav"]
    with atomic_path(written[0]) as tmp:
        sf.write(tmp, y, sr)
    panels = [("original", _mel_db(y, sr))]
    for i, spec in enumerate(specs, start=1):
        augmentation = build_one(spec)
        rng = np.random.default_rng([seed, i])
        if spec.split(":")[0] in BATCH_NAMES:
            panels.append((spec, _batch_view(augmentation, panels[0][1], rng)))
            continue
        recorder = _Recorder(rng)
        z = augmentation(y, sr, recorder)
        z = z / max(1.0, float(np.max(np.abs(z))))  # keep the WAV free of clipping
        written.append(folder / f"{_file_name(i, spec)}.wav")
        with atomic_path(written[-1]) as tmp:
            sf.write(tmp, z, sr)
        drawn = drawn_settings(augmentation, recorder)
        panels.append((f"{spec}\n{drawn}" if drawn else spec, _mel_db(z, sr)))
    plt = _figure()
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    low, high = panels[0][1].max() - 80, panels[0][1].max()
    for ax, (title, mel) in zip(axes.flat, panels, strict=False):
        ax.imshow(mel, origin="lower", aspect="auto", vmin=low, vmax=high, cmap="magma")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    try:
        written.append(save_figure(fig, folder / "preview.png"))
    finally:
        plt.close(fig)
    return written


def _batch_view(augmentation, mel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A batch augmentation applied to one spectrogram (masks show as the mean level)."""
    import torch

    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    mean = float(mel.mean())
    x = torch.from_numpy((mel - mean)[None].astype(np.float32))
    out, _ = augmentation(x, torch.ones(1, 1), generator)
    return out[0].numpy() + mean
