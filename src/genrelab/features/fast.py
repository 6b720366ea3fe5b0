"""The 57 GTZAN features of :mod:`genrelab.features.reference`, ~10x faster, without librosa.

The reference makes straight librosa calls, each computing its own STFT, and its HPSS runs
scipy's N-d median filter (~90% of its time). Here the same arithmetic runs on the same
arrays (librosa's building blocks re-expressed in NumPy by :mod:`.dsp`, which also keeps
librosa's ~1.5 s import out of ``genrelab classify``), with the repeated and unused work
left out:

- one reflect-padded STFT feeds chroma, spectral shape, HPSS and MFCC;
- the beat tracker's onset STFT uses librosa's default constant padding, so it differs from
  that one only in the few frames that reach into the padding: only those are recomputed;
- HPSS uses an exact running median and a fused inverse STFT (:mod:`._hpss`);
- the tuning estimate behind chroma only looks at the bins piptrack can pick (150-4000 Hz);
- zero crossings are counted once per sample instead of once per overlapping frame;
- the tempo is the tempo of the onset envelope, which is what ``beat_track`` returns before
  the dynamic programme that places beats (unused here).

The tests check that the 57 values equal the reference's on the 30 dev clips and on
synthetic edge cases (silence, clipping, odd and short lengths, 16 and 44.1 kHz): bit for bit
except the MFCCs, whose DCT differs by about one float32 rounding (:mod:`.dsp`). One
deliberate difference: for a signal of two or three STFT frames (512 to 1535 samples at the
default hop) scipy's median filter can read past the array, so the reference's harmony and
perceptr features come out NaN or arbitrary; here they are the correct medians.
"""

from __future__ import annotations

import numpy as np

from genrelab.audio import fixed_windows
from genrelab.errors import AudioError
from genrelab.features import dsp
from genrelab.features._hpss import hpss_signals
from genrelab.features.columns import PAD_MODE

#: ``beat_track`` calls ``onset_strength`` with librosa's default STFT size, whatever the
#: ``n_fft`` of the other features.
BEAT_N_FFT = 2048
#: ``piptrack`` defaults used by ``estimate_tuning``: search band (Hz) and peak threshold.
_PIP_FMIN, _PIP_FMAX, _PIP_THRESHOLD = 150.0, 4000.0, 0.1
#: ``zero_crossings`` treats samples with ``|x| <= 1e-10`` as zero.
_ZC_THRESHOLD = 1e-10
_ROLL_PERCENT = 0.85
_N_MFCC = 20
#: Frames per block in :func:`spectral_shape`.
_SHAPE_BLOCK = 256


def _mean_var(x: np.ndarray) -> list[float]:
    return [float(np.mean(x)), float(np.var(x))]


def spectrogram(
    y: np.ndarray, *, n_fft: int, hop_length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reflect-padded STFT that each librosa call of the reference makes, its abs and power."""
    stft = dsp.stft(y, n_fft=n_fft, hop_length=hop_length, pad_mode=PAD_MODE)
    mag = np.abs(stft)
    return stft, mag, mag**2


def estimate_tuning(power: np.ndarray, sr: float, n_fft: int) -> float:
    """``librosa.estimate_tuning(S=power, sr=sr, n_fft=n_fft)``, restricted to piptrack's band.

    piptrack works on the whole spectrogram but keeps only peaks with 150 <= f < 4000 Hz;
    its gradient, parabolic interpolation and local-max test look one bin either side, so
    the band plus one bin per side gives the same peaks, and the median and histogram that
    follow do not depend on the order the peaks come in. The interpolation is only needed
    at the peaks, so it is only computed there.
    """
    freqs = dsp.fft_frequencies(sr, n_fft)
    band = np.flatnonzero((freqs >= _PIP_FMIN) & (freqs < min(_PIP_FMAX, float(sr) / 2)))
    if band.size == 0:
        return 0.0
    lo = band[0] - 1
    sub = power[lo : band[-1] + 2]
    ref = _PIP_THRESHOLD * np.max(power, axis=0, keepdims=True)
    rows, cols = np.nonzero(dsp.localmax_interior(sub * (sub > ref)))
    # Each peak with the bins either side: rows 0, 1, 2 are below, at and above it.
    around = sub[rows[np.newaxis] + np.arange(3)[:, np.newaxis], cols]
    shift = dsp.parabolic_shift_interior(around)[0]
    # np.gradient's interior difference, as piptrack's dskew uses it.
    dskew = 0.5 * ((around[2] - around[0]) / 2.0) * shift
    # piptrack writes these into float32 arrays (zeros_like of the spectrogram).
    pitch = ((rows + lo + 1 + shift) * float(sr) / n_fft).astype(power.dtype)
    mag = around[1] + dskew
    keep = pitch > 0
    threshold = np.median(mag[keep]) if keep.any() else 0.0
    return dsp.pitch_tuning(pitch[(mag >= threshold) & keep])


def chroma(power: np.ndarray, sr: float, n_fft: int) -> np.ndarray:
    """``chroma_stft`` of the reference, from the shared power spectrogram."""
    filters = dsp.chroma_filters(sr, n_fft, estimate_tuning(power, sr, n_fft))
    return dsp.normalize(np.einsum("cf,...ft->...ct", filters, power, optimize=True), np.inf)


def spectral_shape(
    mag: np.ndarray, sr: float, n_fft: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectral centroid, bandwidth and rolloff of the reference, from the shared magnitudes.

    Centroid and bandwidth each normalise the spectrogram the same way; it is done once.
    Rolloff is the first bin whose cumulative energy reaches 85%: ``argmax`` finds it, where
    librosa masks the others with NaN and takes ``nanmin``.
    """
    freq = dsp.fft_frequencies(sr, n_fft)
    out = np.empty((3, mag.shape[1]))
    # Every statistic is per frame: blocks of frames give the same values with a fraction of
    # the float64 temporaries (peak memory matters when windows run side by side).
    for start in range(0, mag.shape[1], _SHAPE_BLOCK):
        block = mag[:, start : start + _SHAPE_BLOCK]
        normed = dsp.normalize(block, 1)
        # The line of librosa's spectral_centroid, on the shared normalised spectrogram.
        centroid = np.sum(freq[:, np.newaxis] * normed, axis=0, keepdims=True)
        out[0, start : start + block.shape[1]] = centroid[0]
        out[1, start : start + block.shape[1]] = dsp.spectral_bandwidth(normed, freq, centroid)[0]
        total = np.cumsum(block, axis=0)  # columns are contiguous (the STFT is Fortran-ordered)
        out[2, start : start + block.shape[1]] = freq[
            np.argmax(total >= _ROLL_PERCENT * total[-1], axis=0)
        ]
    return out[0:1], out[1:2], out[2:3]


def zero_crossing_rate(y: np.ndarray, *, frame_length: int, hop_length: int) -> np.ndarray:
    """``librosa.feature.zero_crossing_rate(y, ...)``, counting each sign change once.

    librosa edge-pads, frames, zeroes ``|x| <= 1e-10`` (in ``y``'s dtype) and compares sign
    bits within each frame; a cumulative count of sign changes gives the same per-frame sums.
    """
    padded = np.pad(y, frame_length // 2, mode="edge")
    negative = padded < -np.asarray(_ZC_THRESHOLD, dtype=y.dtype)
    changes = np.concatenate(([0], np.cumsum(negative[1:] != negative[:-1])))
    starts = np.arange(1 + (padded.size - frame_length) // hop_length) * hop_length
    counts = changes[starts + frame_length - 1] - changes[starts]
    return (counts / frame_length)[np.newaxis, :]


def _constant_padded_power(y: np.ndarray, power: np.ndarray, hop_length: int) -> np.ndarray:
    """``abs(stft(y, pad_mode='constant'))**2`` at ``BEAT_N_FFT``, from the reflect-padded one.

    librosa computes the frames that reach into the padding apart from the others, which it
    frames straight from ``y``: only those few frames per side differ between the two
    paddings, and excerpts of ``y`` starting on a frame boundary give them.
    """
    excerpt = 2 * BEAT_N_FFT
    if y.size < 2 * excerpt:
        return np.abs(dsp.stft(y, n_fft=BEAT_N_FFT, hop_length=hop_length)) ** 2
    edge = -(-(BEAT_N_FFT // 2) // hop_length)
    out = power.copy()
    head = dsp.stft(y[:excerpt], n_fft=BEAT_N_FFT, hop_length=hop_length)[:, :edge]
    out[:, :edge] = np.abs(head) ** 2
    start = (y.size - excerpt) // hop_length * hop_length
    tail = dsp.stft(y[start:], n_fft=BEAT_N_FFT, hop_length=hop_length)[:, -edge:]
    out[:, -edge:] = np.abs(tail) ** 2
    return out


def tempo(y: np.ndarray, sr: float, power: np.ndarray | None, *, hop_length: int) -> float:
    """The tempo of ``beat_track(y=y, sr=sr, hop_length=hop_length)``.

    ``power`` is the reflect-padded ``abs(STFT)**2`` at ``BEAT_N_FFT``, or ``None`` when the
    other features use another STFT size.
    """
    if power is None:
        power = np.abs(dsp.stft(y, n_fft=BEAT_N_FFT, hop_length=hop_length)) ** 2
    else:
        power = _constant_padded_power(y, power, hop_length)
    mel = dsp.melspectrogram(power, sr, BEAT_N_FFT, fmax=0.5 * sr)
    envelope = dsp.onset_strength(dsp.power_to_db(mel), n_fft=BEAT_N_FFT, hop_length=hop_length)
    if not envelope.any():  # beat_track's answer for an envelope without onsets
        return 0.0
    return dsp.tempo(envelope, sr, hop_length=hop_length)


def mfcc(power: np.ndarray, sr: float, n_fft: int) -> np.ndarray:
    """The reference's 20 MFCCs, from the shared power spectrogram."""
    return dsp.mfcc(dsp.power_to_db(dsp.melspectrogram(power, sr, n_fft)), _N_MFCC)


def _check_signal(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise AudioError(f"expected a mono (1-D) signal, got an array of shape {y.shape}")
    if y.size == 0:
        raise AudioError("the signal is empty")
    if not np.isfinite(y).all():
        raise AudioError("the signal contains NaN or infinite samples")
    return y.astype(np.float32, copy=False)


def gtzan_features(
    y: np.ndarray, sr: int, *, n_fft: int = 2048, hop_length: int = 512
) -> np.ndarray:
    """Return the 57 Kaggle GTZAN features of mono signal ``y`` (float64, table order).

    The values of :func:`genrelab.features.reference.gtzan_features`, computed faster.
    """
    y = _check_signal(y)
    stft, mag, power = spectrogram(y, n_fft=n_fft, hop_length=hop_length)
    out = _mean_var(chroma(power, sr, n_fft))
    out += _mean_var(dsp.rms(y, frame_length=n_fft, hop_length=hop_length, pad_mode=PAD_MODE))
    for shape in spectral_shape(mag, sr, n_fft):
        out += _mean_var(shape)
    out += _mean_var(zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length))
    for wave in hpss_signals(stft, mag, y.size, n_fft=n_fft, hop_length=hop_length):
        out += _mean_var(wave)
    out.append(tempo(y, sr, power if n_fft == BEAT_N_FFT else None, hop_length=hop_length))
    for row in mfcc(power, sr, n_fft):
        out += _mean_var(row)
    return np.asarray(out, dtype=np.float64)


def gtzan_features_windows(
    y: np.ndarray,
    sr: int,
    window_s: float,
    hop_s: float | None = None,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
) -> np.ndarray:
    """The 57 features of each window of ``genrelab.audio.fixed_windows``: ``(n_windows, 57)``.

    Row ``i`` equals ``gtzan_features`` of window ``i``'s samples. Each window is analysed
    on its own: the reference pads each window's own edges and most of the cost (median
    filters, tuning, tempo) depends on the whole window. Batching the windows' STFTs into
    one 2-D call gives the same values but was no faster (its per-window slices are strided).
    """
    y = _check_signal(y)
    windows = fixed_windows(y.size, sr, window_s, hop_s)
    return np.stack(
        [gtzan_features(w.take(y), sr, n_fft=n_fft, hop_length=hop_length) for w in windows]
    )
