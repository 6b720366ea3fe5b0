"""The Kaggle GTZAN table's 57 feature columns and the STFT padding it was made with.

Kept apart from :mod:`genrelab.features.reference` so that code which only needs the layout
(the fast path, dataset loaders) does not import librosa.
"""

from __future__ import annotations

#: The table was made with librosa's old STFT default ``pad_mode='reflect'``; librosa 0.10
#: switched to ``'constant'``, so every STFT of these features passes ``'reflect'``.
PAD_MODE = "reflect"

_SPECTRAL = [
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "rolloff",
    "zero_crossing_rate",
    "harmony",
    "perceptr",
]

#: Column names of the Kaggle ``features_30_sec.csv`` table, in its order.
GTZAN_FEATURE_NAMES: tuple[str, ...] = (
    *(f"{base}_{stat}" for base in _SPECTRAL for stat in ("mean", "var")),
    "tempo",
    *(f"mfcc{i}_{stat}" for i in range(1, 21) for stat in ("mean", "var")),
)
