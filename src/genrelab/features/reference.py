"""The 57 GTZAN features of the Kaggle table, computed with straight librosa calls.

This is the slow, obviously-correct definition that every faster path is checked against.
Every STFT passes ``pad_mode=PAD_MODE`` (``'reflect'``, as the table's old librosa did).
"""

from __future__ import annotations

import librosa
import numpy as np

from genrelab.features.columns import GTZAN_FEATURE_NAMES, PAD_MODE

__all__ = ["GTZAN_FEATURE_NAMES", "PAD_MODE", "gtzan_features", "hpss_signals"]


def _mean_var(x: np.ndarray) -> list[float]:
    return [float(np.mean(x)), float(np.var(x))]


def hpss_signals(
    y: np.ndarray, *, n_fft: int = 2048, hop_length: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic and percussive waveforms as the table's librosa made them.

    Old librosa inverted the STFT without ``length`` and zero-padded the tail; the table's
    near-zero ``harmony_mean``/``perceptr_mean`` depend on that tail, so we do the same.
    """
    stft = librosa.stft(y, n_fft=n_fft, hop_length=hop_length, pad_mode=PAD_MODE)
    harmonic, percussive = librosa.decompose.hpss(stft)
    n = y.shape[-1]
    return tuple(
        librosa.util.fix_length(librosa.istft(part, hop_length=hop_length, n_fft=n_fft), size=n)
        for part in (harmonic, percussive)
    )


def gtzan_features(
    y: np.ndarray, sr: int, *, n_fft: int = 2048, hop_length: int = 512
) -> np.ndarray:
    """Return the 57 Kaggle GTZAN features of mono signal ``y`` (float64, table order)."""
    y = np.asarray(y, dtype=np.float32)
    stft_kw = {"n_fft": n_fft, "hop_length": hop_length, "pad_mode": PAD_MODE}
    out: list[float] = []
    out += _mean_var(librosa.feature.chroma_stft(y=y, sr=sr, **stft_kw))
    out += _mean_var(
        librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length, pad_mode=PAD_MODE)
    )
    out += _mean_var(librosa.feature.spectral_centroid(y=y, sr=sr, **stft_kw))
    out += _mean_var(librosa.feature.spectral_bandwidth(y=y, sr=sr, **stft_kw))
    out += _mean_var(librosa.feature.spectral_rolloff(y=y, sr=sr, **stft_kw))
    out += _mean_var(
        librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length)
    )
    harmonic, percussive = hpss_signals(y, n_fft=n_fft, hop_length=hop_length)
    out += _mean_var(harmonic)
    out += _mean_var(percussive)
    tempo, _ = librosa.beat.beat_track(y=y, sr=sr, hop_length=hop_length)
    out.append(float(np.atleast_1d(tempo)[0]))
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, **stft_kw)
    for row in mfcc:
        out += _mean_var(row)
    return np.asarray(out, dtype=np.float64)
