"""Deterministic synthetic music: tones, noise, drum patterns and short "songs".

Used by the test suite (no dataset needed) and by ``genrelab classify --example``, so the
package can demonstrate itself without shipping or downloading audio.
"""

from __future__ import annotations

import numpy as np


def tone(
    freq: float, duration: float, sr: int = 22050, amp: float = 0.5, phase: float = 0.0
) -> np.ndarray:
    """A pure sine."""
    t = np.arange(round(duration * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def noise(
    duration: float, sr: int = 22050, amp: float = 0.1, seed: int = 0, color: str = "white"
) -> np.ndarray:
    """White, pink (1/f) or brown (1/f^2) Gaussian noise scaled to peak ``amp``."""
    rng = np.random.default_rng(seed)
    n = round(duration * sr)
    x = rng.standard_normal(n)
    if color != "white":
        power = {"pink": 0.5, "brown": 1.0}[color]
        spec = np.fft.rfft(x)
        f = np.fft.rfftfreq(n, 1 / sr)
        f[0] = f[1]
        x = np.fft.irfft(spec / f**power, n)
    x = x / (np.max(np.abs(x)) + 1e-12)
    return (amp * x).astype(np.float32)


def _kick(sr: int) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    freq = 50 + 100 * np.exp(-t * 30)
    return np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t * 12)


def _snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.2 * sr)) / sr
    return (0.6 * rng.standard_normal(t.size) + 0.4 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t * 25)


def _hat(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.05 * sr)) / sr
    return 0.3 * np.diff(rng.standard_normal(t.size + 1)) * np.exp(-t * 80)


def drums(
    duration: float, sr: int = 22050, bpm: float = 120.0, seed: int = 0, amp: float = 0.6
) -> np.ndarray:
    """A kick/snare/hi-hat rock beat at ``bpm``, 16th-note grid."""
    rng = np.random.default_rng(seed)
    n = round(duration * sr)
    out = np.zeros(n)
    step = 60.0 / bpm / 4
    hits = {"kick": _kick(sr), "snare": _snare(sr, rng), "hat": _hat(sr, rng)}
    pattern = {"kick": (0, 8, 10), "snare": (4, 12), "hat": tuple(range(0, 16, 2))}
    for i in range(int(duration / step)):
        start = round(i * step * sr)
        for name, steps in pattern.items():
            if i % 16 in steps:
                hit = hits[name][: n - start]
                out[start : start + hit.size] += hit
    out /= np.max(np.abs(out)) + 1e-12
    return (amp * out).astype(np.float32)


def chords(
    duration: float, sr: int = 22050, root: float = 220.0, seed: int = 0, amp: float = 0.4
) -> np.ndarray:
    """Slow sustained major/minor triads with a few harmonics: a harmonic, 'classical' texture."""
    rng = np.random.default_rng(seed)
    n = round(duration * sr)
    out = np.zeros(n)
    seg = int(2.0 * sr)
    t = np.arange(seg) / sr
    env = np.minimum(1, t / 0.3) * np.exp(-t * 0.6)
    for start in range(0, n, seg):
        base = root * 2 ** (rng.choice([0, 3, 5, 7, 9]) / 12)
        third = 4 if rng.random() < 0.5 else 3
        chunk = np.zeros(seg)
        for semis in (0, third, 7):
            f = base * 2 ** (semis / 12)
            for h in range(1, 4):
                chunk += np.sin(2 * np.pi * f * h * t) / h
        end = min(n, start + seg)
        out[start:end] += (chunk * env)[: end - start]
    out /= np.max(np.abs(out)) + 1e-12
    return (amp * out).astype(np.float32)


def song(duration: float = 30.0, sr: int = 22050, style: str = "rock", seed: int = 0) -> np.ndarray:
    """A short synthetic track: drums + bass + chords mixed by ``style``.

    Styles: ``rock`` (loud drums, distorted chords), ``classical`` (chords only),
    ``disco`` (four-on-the-floor at 120 bpm), ``ambient`` (pink noise and chords).
    """
    n = round(duration * sr)
    harmonic = chords(duration, sr, seed=seed)
    if style == "classical":
        mix = harmonic
    elif style == "rock":
        mix = 0.6 * drums(duration, sr, bpm=140, seed=seed) + 0.5 * np.tanh(4 * harmonic)
    elif style == "disco":
        mix = (
            0.7 * drums(duration, sr, bpm=120, seed=seed)
            + 0.4 * harmonic
            + tone(55, duration, sr, 0.3)
        )
    elif style == "ambient":
        mix = 0.5 * harmonic + noise(duration, sr, 0.2, seed=seed, color="pink")
    else:
        raise ValueError(f"unknown style {style!r}; choose rock, classical, disco or ambient")
    mix = np.asarray(mix[:n], dtype=np.float64)
    return (0.9 * mix / (np.max(np.abs(mix)) + 1e-12)).astype(np.float32)
