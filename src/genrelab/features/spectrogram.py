"""Time-frequency and raw-waveform front ends for the neural models.

Each front end turns a batch of windows into one float32 array ``(windows, bins, frames)``
(``(windows, samples)`` for the waveform), computed by librosa on the whole batch at once.
``duration`` (seconds) fixes the input size: shorter windows are zero-padded and longer ones
cut, so a clip shorter than a model's window still gives an input of the trained shape. Every
parameter lives in the bundle card's ``frontend`` dict, so inference rebuilds the same front end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from genrelab.errors import ModelError
from genrelab.features.frontends import Frontend, register_frontend

SCALES = ("db", "log1p")
#: The front-end kinds this module registers (what ``genrelab train`` can cut audio into).
KINDS = ("melspec", "logspec", "stft", "mfcc", "waveform")


def fit_length(windows: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Stack windows as ``(len(windows), n)`` float32, zero-padding or cutting each one."""
    out = np.zeros((len(windows), n), dtype=np.float32)
    for row, w in zip(out, windows, strict=True):
        w = np.asarray(w, dtype=np.float32)[:n]
        row[: w.size] = w
    return out


def _compress(power: np.ndarray, scale: str, compression: float) -> np.ndarray:
    """Power to decibels (absolute, so loudness differences survive) or ``log(1 + C x)``."""
    if scale == "db":
        return 10.0 * np.log10(np.maximum(power, 1e-10))
    if scale == "log1p":
        return np.log1p(compression * power)
    raise ModelError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")


def _batched(
    transform: Callable[[np.ndarray, int], np.ndarray], duration: float | None
) -> Frontend:
    def compute(windows: Sequence[np.ndarray], sr: int) -> np.ndarray:
        n = round(duration * sr) if duration else max(np.asarray(w).size for w in windows)
        return transform(fit_length(windows, n), sr).astype(np.float32)

    return compute


@register_frontend("melspec")
def melspec_frontend(
    n_mels: int = 128,
    n_fft: int = 2048,
    hop: int = 512,
    fmin: float = 0.0,
    fmax: float | None = None,
    scale: str = "db",
    compression: float = 1.0,
    duration: float | None = None,
) -> Frontend:
    """Mel power spectrogram, compressed to decibels or ``log(1 + C x)``."""
    import librosa

    _compress(np.ones(1), scale, compression)  # rejects a bad scale when the card is read

    def transform(y: np.ndarray, sr: int) -> np.ndarray:
        power = librosa.feature.melspectrogram(
            y=y, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels, fmin=fmin, fmax=fmax
        )
        return _compress(power, scale, compression)

    return _batched(transform, duration)


@register_frontend("logspec")
def logspec_frontend(
    n_bins: int = 84,
    bins_per_octave: int = 12,
    hop: int = 512,
    fmin: float = 32.70,
    duration: float | None = None,
) -> Frontend:
    """Constant-Q magnitude in decibels: log-spaced bins, so a pitch shift is a translation."""
    import librosa

    def transform(y: np.ndarray, sr: int) -> np.ndarray:
        magnitude = np.abs(
            librosa.cqt(
                y, sr=sr, hop_length=hop, fmin=fmin, n_bins=n_bins, bins_per_octave=bins_per_octave
            )
        )
        return _compress(magnitude**2, "db", 1.0)

    return _batched(transform, duration)


@register_frontend("stft")
def stft_frontend(n_fft: int = 1024, hop: int = 512, duration: float | None = None) -> Frontend:
    """Linear-frequency STFT magnitude in decibels."""
    import librosa

    def transform(y: np.ndarray, sr: int) -> np.ndarray:
        magnitude = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop))
        return _compress(magnitude**2, "db", 1.0)

    return _batched(transform, duration)


@register_frontend("mfcc")
def mfcc_frontend(
    n_mfcc: int = 20,
    n_mels: int = 128,
    n_fft: int = 2048,
    hop: int = 512,
    duration: float | None = None,
) -> Frontend:
    """MFCC sequences ``(windows, n_mfcc, frames)`` for the recurrent models."""
    import librosa

    def transform(y: np.ndarray, sr: int) -> np.ndarray:
        return librosa.feature.mfcc(
            y=y, sr=sr, n_mfcc=n_mfcc, n_mels=n_mels, n_fft=n_fft, hop_length=hop
        )

    return _batched(transform, duration)


@register_frontend("waveform")
def waveform_frontend(duration: float | None = None) -> Frontend:
    """The samples themselves, ``(windows, samples)``, for the raw-audio networks."""
    return _batched(lambda y, sr: y, duration)
