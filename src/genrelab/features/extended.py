"""Features beyond the Kaggle 57: timbre, harmony and rhythm descriptors summarised per clip.

Each ``*_stats`` function is a pure, librosa-style ``(y, sr, **params) -> 1-D float64 array``
whose layout is fixed and named by the matching entry of ``EXTENDED_GROUPS``. Parameters that
would change that layout (band, chroma or coefficient counts) are deliberately not exposed: a
different layout is a different feature set. Optional precomputed inputs (``S``, ``C``,
``chroma``, ``mfcc``) let :func:`extended_features` compute each spectrogram only once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import librosa
import numpy as np

from genrelab.features.columns import GTZAN_FEATURE_NAMES, PAD_MODE
from genrelab.features.fast import gtzan_features
from genrelab.features.sets import FeatureSet, register_feature_set

N_FFT = 2048
HOP_LENGTH = 512
N_MFCC = 20
_CONTRAST_BANDS = 7  # librosa's default n_bands=6 sub-bands plus the residual top band
_CQT_BINS_PER_OCTAVE = 36
_CQT_OCTAVES = 7
_PITCHES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_TONNETZ_AXES = ("fifth_x", "fifth_y", "minor_x", "minor_y", "major_x", "major_y")


def _mean_var(x: np.ndarray) -> np.ndarray:
    """Per-row mean and variance, interleaved as ``row0_mean, row0_var, row1_mean, ...``."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    return np.column_stack([x.mean(axis=1), x.var(axis=1)]).ravel()


def _names(
    base: str, rows: Sequence[str], stats: Sequence[str] = ("mean", "var")
) -> tuple[str, ...]:
    return tuple(f"{base}{row}_{stat}" for row in rows for stat in stats)


def _magnitude(y: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    return np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length, pad_mode=PAD_MODE))


def _cqt_magnitude(y: np.ndarray, sr: int, hop_length: int) -> np.ndarray:
    """The constant-Q magnitude that ``librosa.feature.chroma_cqt`` builds by default.

    Silent windows are common in real tracks; tuning estimation then falls back to 0 cents,
    which is right, so its warning about that is only noise.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Trying to estimate tuning from empty frequency set")
        C = librosa.cqt(
            y,
            sr=sr,
            hop_length=hop_length,
            n_bins=_CQT_OCTAVES * _CQT_BINS_PER_OCTAVE,
            bins_per_octave=_CQT_BINS_PER_OCTAVE,
            tuning=None,
        )
    return np.abs(C)


def _mfcc(y: np.ndarray, sr: int, n_fft: int, hop_length: int) -> np.ndarray:
    return librosa.feature.mfcc(
        y=y, sr=sr, n_mfcc=N_MFCC, n_fft=n_fft, hop_length=hop_length, pad_mode=PAD_MODE
    )


def spectral_contrast_stats(
    y: np.ndarray,
    sr: int,
    *,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    S: np.ndarray | None = None,
) -> np.ndarray:
    """Mean/var of spectral contrast in 7 octave bands: peak-vs-valley energy, tonal vs noisy."""
    if S is None:
        S = _magnitude(y, n_fft, hop_length)
    return _mean_var(librosa.feature.spectral_contrast(S=S, sr=sr, n_fft=n_fft))


def spectral_flatness_stats(
    y: np.ndarray,
    sr: int,
    *,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    S: np.ndarray | None = None,
) -> np.ndarray:
    """Mean/var of spectral flatness (1 for white noise, near 0 for a pure tone)."""
    if S is None:
        S = _magnitude(y, n_fft, hop_length)
    return _mean_var(librosa.feature.spectral_flatness(S=S))


def chroma_cqt_stats(
    y: np.ndarray, sr: int, *, hop_length: int = HOP_LENGTH, C: np.ndarray | None = None
) -> np.ndarray:
    """Mean/var of the 12 constant-Q chroma bins (tuning-corrected, octave-robust pitch classes)."""
    if C is None:
        C = _cqt_magnitude(y, sr, hop_length)
    return _mean_var(librosa.feature.chroma_cqt(C=C, sr=sr, bins_per_octave=_CQT_BINS_PER_OCTAVE))


def chroma_cens_stats(
    y: np.ndarray, sr: int, *, hop_length: int = HOP_LENGTH, C: np.ndarray | None = None
) -> np.ndarray:
    """Mean/var of the 12 CENS chroma bins: smoothed and quantised, robust to timbre/dynamics."""
    if C is None:
        C = _cqt_magnitude(y, sr, hop_length)
    return _mean_var(librosa.feature.chroma_cens(C=C, sr=sr, bins_per_octave=_CQT_BINS_PER_OCTAVE))


def tonnetz_stats(
    y: np.ndarray, sr: int, *, hop_length: int = HOP_LENGTH, chroma: np.ndarray | None = None
) -> np.ndarray:
    """Mean/var of the 6 tonal-centroid coordinates (fifths, minor and major thirds)."""
    if chroma is None:
        chroma = librosa.feature.chroma_cqt(
            C=_cqt_magnitude(y, sr, hop_length), sr=sr, bins_per_octave=_CQT_BINS_PER_OCTAVE
        )
    return _mean_var(librosa.feature.tonnetz(chroma=chroma, sr=sr))


def onset_strength_stats(
    y: np.ndarray, sr: int, *, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH
) -> np.ndarray:
    """Mean, variance and maximum of the onset-strength envelope: how busy and punchy."""
    env = librosa.onset.onset_strength(
        y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, pad_mode=PAD_MODE
    )
    return np.array([env.mean(), env.var(), env.max()], dtype=np.float64)


def mfcc_shape_stats(
    y: np.ndarray,
    sr: int,
    *,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    mfcc: np.ndarray | None = None,
) -> np.ndarray:
    """Skewness, excess kurtosis, minimum and maximum of each of the 20 MFCCs.

    The moments are 0 for a constant coefficient (e.g. silence) rather than NaN.
    """
    if mfcc is None:
        mfcc = _mfcc(y, sr, n_fft, hop_length)
    x = np.asarray(mfcc, dtype=np.float64)
    centred = x - x.mean(axis=1, keepdims=True)
    sd = np.sqrt(np.mean(centred**2, axis=1, keepdims=True))
    varies = sd > 1e-12 * np.maximum(1.0, np.abs(x).max(axis=1, keepdims=True))
    z = np.divide(centred, sd, out=np.zeros_like(centred), where=varies)
    skew = np.mean(z**3, axis=1)
    kurt = np.where(varies[:, 0], np.mean(z**4, axis=1) - 3.0, 0.0)
    return np.column_stack([skew, kurt, x.min(axis=1), x.max(axis=1)]).ravel()


def delta_mfcc_stats(
    y: np.ndarray,
    sr: int,
    *,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    mfcc: np.ndarray | None = None,
) -> np.ndarray:
    """Mean/var of the first-order MFCC deltas: how fast the timbre changes."""
    if mfcc is None:
        mfcc = _mfcc(y, sr, n_fft, hop_length)
    return _mean_var(librosa.feature.delta(mfcc))


_MFCC_ROWS = [str(i) for i in range(1, N_MFCC + 1)]

#: Group name -> (feature names, function), in the order ``extended_features`` returns them.
EXTENDED_GROUPS: dict[str, tuple[tuple[str, ...], Callable[..., np.ndarray]]] = {
    "spectral_contrast": (
        _names("spectral_contrast", [str(i) for i in range(1, _CONTRAST_BANDS + 1)]),
        spectral_contrast_stats,
    ),
    "spectral_flatness": (_names("spectral_flatness", [""]), spectral_flatness_stats),
    "chroma_cqt": (_names("chroma_cqt_", _PITCHES), chroma_cqt_stats),
    "chroma_cens": (_names("chroma_cens_", _PITCHES), chroma_cens_stats),
    "tonnetz": (_names("tonnetz_", _TONNETZ_AXES), tonnetz_stats),
    "onset_strength": (
        _names("onset_strength", [""], ("mean", "var", "max")),
        onset_strength_stats,
    ),
    "mfcc_shape": (_names("mfcc", _MFCC_ROWS, ("skew", "kurt", "min", "max")), mfcc_shape_stats),
    "delta_mfcc": (_names("delta_mfcc", _MFCC_ROWS), delta_mfcc_stats),
}

#: Names of everything :func:`extended_features` returns, in order.
EXTENDED_FEATURE_NAMES: tuple[str, ...] = tuple(
    name for names, _ in EXTENDED_GROUPS.values() for name in names
)


def extended_features(y: np.ndarray, sr: int) -> np.ndarray:
    """All extended groups (``EXTENDED_FEATURE_NAMES`` order), sharing the STFT, CQT and MFCCs."""
    y = np.asarray(y, dtype=np.float32)
    S = _magnitude(y, N_FFT, HOP_LENGTH)
    C = _cqt_magnitude(y, sr, HOP_LENGTH)
    chroma = librosa.feature.chroma_cqt(C=C, sr=sr, bins_per_octave=_CQT_BINS_PER_OCTAVE)
    mfcc = _mfcc(y, sr, N_FFT, HOP_LENGTH)
    shared = {
        "spectral_contrast": {"S": S},
        "spectral_flatness": {"S": S},
        "chroma_cqt": {"C": C},
        "chroma_cens": {"C": C},
        "tonnetz": {"chroma": chroma},
        "mfcc_shape": {"mfcc": mfcc},
        "delta_mfcc": {"mfcc": mfcc},
    }
    return np.concatenate(
        [fn(y, sr, **shared.get(group, {})) for group, (_, fn) in EXTENDED_GROUPS.items()]
    )


def _gtzan57_and_extended(y: np.ndarray, sr: int) -> np.ndarray:
    return np.concatenate([gtzan_features(y, sr), extended_features(y, sr)])


register_feature_set(
    FeatureSet(
        name="extended",
        names=GTZAN_FEATURE_NAMES + EXTENDED_FEATURE_NAMES,
        fn=_gtzan57_and_extended,
        description=(
            "gtzan57 plus spectral contrast and flatness, CQT and CENS chroma, tonnetz, "
            "onset strength, and MFCC shape and delta statistics."
        ),
    )
)
