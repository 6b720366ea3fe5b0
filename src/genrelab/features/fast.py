"""The 57 GTZAN features of :mod:`genrelab.features.reference`, about 10x faster and identical.

The reference makes straight librosa calls, each computing its own STFT, and its HPSS runs
scipy's generic N-d median filter (~90% of its time). Here, with the same numbers out:

- one reflect-padded STFT feeds chroma, spectral shape, HPSS and MFCC (passed as ``S=``);
- the beat tracker's onset STFT uses librosa's default constant padding, so it differs from
  that one only in the frames that touch the padding: just those are recomputed;
- the HPSS median filters run scipy's fast 1-D rank filter once over all rows, each row
  reflect-padded by hand (a median selects an input value, so the output is the same);
- the tuning estimate behind chroma only looks at the bins piptrack can pick (150-4000 Hz);
- the tempo is ``librosa.feature.tempo`` on the onset envelope, which is what ``beat_track``
  returns before its dynamic programme places beats the features never use. Not importing
  ``librosa.beat`` also saves ~2 s of numba compilation in every fresh process.

The values equal the reference's bit for bit on the dev clips and the synthetic edge cases
of the tests (same librosa arithmetic on the same arrays), well inside the tolerances the
models need (1e-3 relative).
"""

from __future__ import annotations

import librosa
import numpy as np
from librosa.core.pitch import _parabolic_interpolation

from genrelab.errors import AudioError
from genrelab.features._hpss import hpss_signals
from genrelab.features.reference import PAD_MODE

#: ``beat_track`` calls ``onset_strength`` with librosa's default STFT size, whatever the
#: ``n_fft`` the other features use.
BEAT_N_FFT = 2048
#: ``librosa.decompose.hpss`` defaults: median kernel (both directions) and soft-mask power.
HPSS_KERNEL = 31
_MASK_POWER = 2.0
#: ``piptrack`` defaults used by ``estimate_tuning``: search band (Hz) and peak threshold.
_PIP_FMIN, _PIP_FMAX, _PIP_THRESHOLD = 150.0, 4000.0, 0.1


def _mean_var(x: np.ndarray) -> list[float]:
    return [float(np.mean(x)), float(np.var(x))]


def estimate_tuning(power: np.ndarray, sr: float, n_fft: int) -> float:
    """``librosa.estimate_tuning(S=power, sr=sr, n_fft=n_fft)``, restricted to piptrack's band.

    piptrack works on the whole spectrogram but only keeps peaks with 150 <= f < 4000 Hz;
    its gradient, parabolic interpolation and local-max test look one bin either side, so
    the band plus one bin per side gives the same peaks, and the median and histogram that
    follow do not depend on the order they come in.
    """
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    band = np.flatnonzero((freqs >= _PIP_FMIN) & (freqs < min(_PIP_FMAX, float(sr) / 2)))
    if band.size == 0:
        return 0.0
    lo = band[0] - 1
    sub = power[..., lo : band[-1] + 2, :]
    ref = _PIP_THRESHOLD * np.max(power, axis=-2, keepdims=True)
    peaks = librosa.util.localmax(sub * (sub > ref), axis=-2)[1:-1]
    shift = _parabolic_interpolation(sub, axis=-2)[1:-1]
    dskew = 0.5 * np.gradient(sub, axis=-2)[1:-1] * shift
    rows, cols = np.nonzero(peaks)
    # Same dtypes as piptrack, which writes into float32 arrays made by zeros_like(S).
    pitch = ((rows + lo + 1 + shift[rows, cols]) * float(sr) / n_fft).astype(power.dtype)
    mag = sub[1:-1][rows, cols] + dskew[rows, cols]
    keep = pitch > 0
    threshold = np.median(mag[keep]) if keep.any() else 0.0
    return librosa.pitch_tuning(pitch[(mag >= threshold) & keep], bins_per_octave=12)


def _constant_padded_power(y: np.ndarray, power: np.ndarray, hop_length: int) -> np.ndarray:
    """``|stft(y, pad_mode='constant')|**2`` at ``BEAT_N_FFT``, from the reflect-padded ``power``.

    librosa computes the frames that touch the padding apart from the middle ones, which it
    takes from ``y`` itself; so only ``edge`` frames per side differ, and short excerpts of
    ``y`` framed the same way give them.
    """
    excerpt = 2 * BEAT_N_FFT
    if y.size < 2 * excerpt:
        return np.abs(librosa.stft(y, n_fft=BEAT_N_FFT, hop_length=hop_length)) ** 2
    # Frames centred before n_fft/2 (after size - n_fft/2) reach into the padding.
    edge = -(-(BEAT_N_FFT // 2) // hop_length)
    out = power.copy()
    head = librosa.stft(y[:excerpt], n_fft=BEAT_N_FFT, hop_length=hop_length)[:, :edge]
    out[:, :edge] = np.abs(head) ** 2
    # An excerpt starting on a frame boundary frames the same samples as y does.
    start = (y.size - excerpt) // hop_length * hop_length
    tail = librosa.stft(y[start:], n_fft=BEAT_N_FFT, hop_length=hop_length)[:, -edge:]
    out[:, -edge:] = np.abs(tail) ** 2
    return out


def tempo(y: np.ndarray, sr: float, power: np.ndarray | None, *, hop_length: int) -> float:
    """``beat_track(y=y, sr=sr, hop_length=hop_length)``'s tempo, from a shared spectrogram.

    ``power`` is the reflect-padded ``|STFT|**2`` at ``BEAT_N_FFT`` (``None`` if the other
    features use another size).
    """
    if power is None:
        power = np.abs(librosa.stft(y, n_fft=BEAT_N_FFT, hop_length=hop_length)) ** 2
    else:
        power = _constant_padded_power(y, power, hop_length)
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_fft=BEAT_N_FFT, fmax=0.5 * sr)
    envelope = librosa.onset.onset_strength(
        S=librosa.power_to_db(mel), sr=sr, hop_length=hop_length, aggregate=np.median
    )
    if not envelope.any():
        return 0.0
    return float(librosa.feature.tempo(onset_envelope=envelope, sr=sr, hop_length=hop_length)[0])


def _check_signal(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise AudioError(f"expected a mono signal (1-D array), got shape {y.shape}")
    if y.size == 0:
        raise AudioError("the audio signal is empty")
    if not np.isfinite(y).all():
        raise AudioError("the audio signal contains NaN or infinite samples")
    return y


def gtzan_features(y: np.ndarray, sr: int, *, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
    """Return the 57 Kaggle GTZAN features of mono signal ``y`` (float64, table order).

    Same values as :func:`genrelab.features.reference.gtzan_features`.
    """
    y = _check_signal(y)
    stft = librosa.stft(y, n_fft=n_fft, hop_length=hop_length, pad_mode=PAD_MODE)
    mag = np.abs(stft)
    power = mag**2
    spec = {"sr": sr, "n_fft": n_fft}
    out: list[float] = []
    chroma_tuning = estimate_tuning(power, sr, n_fft)
    out += _mean_var(librosa.feature.chroma_stft(S=power, tuning=chroma_tuning, **spec))
    out += _mean_var(
        librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length, pad_mode=PAD_MODE)
    )
    centroid = librosa.feature.spectral_centroid(S=mag, **spec)
    out += _mean_var(centroid)
    out += _mean_var(librosa.feature.spectral_bandwidth(S=mag, centroid=centroid, **spec))
    out += _mean_var(librosa.feature.spectral_rolloff(S=mag, **spec))
    out += _mean_var(
        librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length)
    )
    for wave in hpss_signals(stft, mag, y.size, n_fft=n_fft, hop_length=hop_length):
        out += _mean_var(wave)
    out.append(tempo(y, sr, power if n_fft == BEAT_N_FFT else None, hop_length=hop_length))
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, **spec))
    for row in librosa.feature.mfcc(S=mel_db, n_mfcc=20):
        out += _mean_var(row)
    return np.asarray(out, dtype=np.float64)
