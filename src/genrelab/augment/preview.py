"""Hear and see what augmentations do: one audio file per variant and a figure of all of them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genrelab.augment import BATCH_NAMES, WAVE_NAMES, build_one

#: Every single augmentation with its default ranges (mixup needs a batch, so it is left out).
DEFAULT_SPECS = (*WAVE_NAMES, "specaugment")


def _mel_db(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    return librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=96), ref=1.0)


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
        z = augmentation(y, sr, rng)
        z = z / max(1.0, float(np.max(np.abs(z))))  # keep the WAV free of clipping
        written.append(folder / f"{_file_name(i, spec)}.wav")
        with atomic_path(written[-1]) as tmp:
            sf.write(tmp, z, sr)
        panels.append((spec, _mel_db(z, sr)))
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
