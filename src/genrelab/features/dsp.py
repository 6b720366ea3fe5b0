"""The librosa building blocks the fast paths need, in NumPy (and soxr): no librosa, no SciPy.

Importing librosa costs ~1.5 s per process on a small machine (it imports ``scipy.signal``,
``scipy.stats`` and compiles or loads numba kernels), more than classifying a 4-minute song.
``genrelab classify`` therefore computes its features and musicnn's log-mel input with these
functions, which follow librosa 0.11's definitions (ISC licence) operation by operation, with
the same dtypes, array layouts and NumPy calls, so they return the same bits
(``tests/test_dsp.py`` checks each against librosa). NumPy's FFT is the same pocketfft that
librosa reaches through ``scipy.fft``. The one deliberate difference is the DCT of the MFCCs,
a float64 matrix product rounded to float32 where SciPy's float32 FFT-based DCT differs from
it by about one float32 rounding.

Filter banks depend only on their parameters and are cached (read-only arrays).
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

#: librosa's ``hz_to_mel`` (Slaney): linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0
#: ``librosa.stft`` processes this many bytes of frames per FFT call (its MAX_MEM_BLOCK).
_BLOCK_BYTES = 2**18
#: Frames per block of the tempogram in :func:`tempo`.
_TEMPO_BLOCK = 256


def _readonly(x: np.ndarray) -> np.ndarray:
    x.flags.writeable = False
    return x


def tiny(dtype: np.dtype) -> float:
    """Smallest normal number of a float dtype (float64's for anything else), as librosa."""
    dtype = np.dtype(dtype)
    return float(np.finfo(dtype if np.issubdtype(dtype, np.floating) else np.float64).tiny)


@lru_cache(maxsize=32)
def hann(n: int) -> np.ndarray:
    """Periodic Hann window, float64: ``scipy.signal.get_window("hann", n, fftbins=True)``."""
    if n == 1:
        return _readonly(np.ones(1))
    phase = np.linspace(-np.pi, np.pi, n + 1)
    w = np.zeros(n + 1)
    w += 0.5
    w += 0.5 * np.cos(phase)
    return _readonly(w[:n])


def frame(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """``(frame_length, n_frames)`` strided view of 1-D ``x``, laid out as ``librosa.util.frame``."""
    if x.shape[-1] < frame_length:
        raise ValueError(f"input of {x.shape[-1]} samples is shorter than a {frame_length} frame")
    return np.lib.stride_tricks.sliding_window_view(x, frame_length)[::hop_length].T


def fft_frequencies(sr: float, n_fft: int) -> np.ndarray:
    return np.fft.rfftfreq(n=n_fft, d=1.0 / sr)


def stft(y: np.ndarray, *, n_fft: int, hop_length: int, pad_mode: str = "constant") -> np.ndarray:
    """Centred STFT with a periodic Hann window: ``librosa.stft(y, ...)``.

    Complex64 for float32 input, Fortran-ordered like librosa's (later reductions along
    frequency then sum the same numbers in the same order).
    """
    if n_fft > y.shape[-1]:
        warnings.warn(
            f"n_fft={n_fft} is too large for input signal of length={y.shape[-1]}", stacklevel=2
        )
    frames = frame(np.pad(y, n_fft // 2, mode=pad_mode), n_fft, hop_length)
    window = hann(n_fft)[:, np.newaxis]
    dtype = np.complex64 if y.dtype == np.float32 else np.complex128
    out = np.zeros((1 + n_fft // 2, frames.shape[1]), dtype=dtype, order="F")
    step = max(_BLOCK_BYTES // (n_fft * frames.itemsize), 1)
    for start in range(0, frames.shape[1], step):
        block = slice(start, start + step)
        out[:, block] = np.fft.rfft(window * frames[:, block], axis=0)
    return out


def normalize(S: np.ndarray, norm: float, axis: int = 0) -> np.ndarray:
    """``librosa.util.normalize`` for ``norm`` in (inf, 1, 2): columns scaled to unit norm.

    Columns whose norm is below the dtype's tiny number are left as they are.
    """
    mag = np.abs(S).astype(float)
    if norm == np.inf:
        length = np.max(mag, axis=axis, keepdims=True)
    else:
        length = np.sum(mag**norm, axis=axis, keepdims=True) ** (1.0 / norm)
    length[length < tiny(S.dtype)] = 1.0
    out = np.empty_like(S)
    out[:] = S / length
    return out


def hz_to_mel(frequencies: np.ndarray | float) -> np.ndarray:
    f = np.asanyarray(frequencies, dtype=float)
    mels = f / _F_SP
    if f.ndim:
        high = f >= _MIN_LOG_HZ
        mels[high] = _MIN_LOG_MEL + np.log(f[high] / _MIN_LOG_HZ) / _LOGSTEP
    elif f >= _MIN_LOG_HZ:
        mels = _MIN_LOG_MEL + np.log(f / _MIN_LOG_HZ) / _LOGSTEP
    return mels


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    m = np.asanyarray(mels, dtype=float)
    freqs = 0.0 + _F_SP * m
    high = m >= _MIN_LOG_MEL
    freqs[high] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (m[high] - _MIN_LOG_MEL))
    return freqs


@lru_cache(maxsize=16)
def mel_filters(sr: float, n_fft: int, n_mels: int = 128, fmax: float | None = None) -> np.ndarray:
    """Slaney-normalised mel filter bank ``(n_mels, 1 + n_fft // 2)`` float32: ``librosa.filters.mel``."""
    fmax = float(sr) / 2 if fmax is None else fmax
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    centres = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(centres)
    ramps = np.subtract.outer(centres, fft_frequencies(sr, n_fft))
    for i in range(n_mels):
        rising = -ramps[i] / widths[i]
        falling = ramps[i + 2] / widths[i + 1]
        weights[i] = np.maximum(0, np.minimum(rising, falling))
    weights *= (2.0 / (centres[2 : n_mels + 2] - centres[:n_mels]))[:, np.newaxis]
    if not np.all((centres[:-2] == 0) | (weights.max(axis=1) > 0)):
        warnings.warn("Empty filters detected in mel frequency basis.", stacklevel=2)
    return _readonly(weights)


@lru_cache(maxsize=128)
def chroma_filters(sr: float, n_fft: int, tuning: float = 0.0) -> np.ndarray:
    """12-bin chroma filter bank starting at C, float32: ``librosa.filters.chroma``.

    Gaussian bumps around each pitch class, unit L2 norm per FFT bin, weighted by a
    Gaussian over octaves centred on octave 5 (two octaves wide). Cached per tuning,
    which librosa quantises to hundredths of a bin.
    """
    n_chroma = 12
    frequencies = np.linspace(0, sr, n_fft, endpoint=False)[1:]
    a440 = 440.0 * 2.0 ** (tuning / n_chroma)
    bins = n_chroma * np.log2(frequencies / (float(a440) / 16))
    bins = np.concatenate(([bins[0] - 1.5 * n_chroma], bins))
    widths = np.concatenate((np.maximum(bins[1:] - bins[:-1], 1.0), [1]))
    distance = np.subtract.outer(bins, np.arange(0, n_chroma, dtype="d")).T
    half = np.round(float(n_chroma) / 2)
    distance = np.remainder(distance + half + 10 * n_chroma, n_chroma) - half
    weights = np.exp(-0.5 * (2 * distance / np.tile(widths, (n_chroma, 1))) ** 2)
    weights = normalize(weights, norm=2, axis=0)
    octave_weight = np.exp(-0.5 * (((bins / n_chroma - 5.0) / 2) ** 2))
    weights *= np.tile(octave_weight, (n_chroma, 1))
    weights = np.roll(weights, -3, axis=0)
    return _readonly(np.ascontiguousarray(weights[:, : int(1 + n_fft / 2)], dtype=np.float32))


def melspectrogram(power: np.ndarray, sr: float, n_fft: int, **mel: float | None) -> np.ndarray:
    """Mel power from a power spectrogram: ``librosa.feature.melspectrogram(S=power, ...)``."""
    basis = mel_filters(sr, n_fft, **mel)
    return np.einsum("...ft,mf->...mt", power, basis, optimize=True)


def power_to_db(S: np.ndarray, amin: float = 1e-10, top_db: float = 80.0) -> np.ndarray:
    """``librosa.power_to_db(S)`` with ``ref=1``: decibels, floored ``top_db`` below the peak."""
    log_spec = 10.0 * np.log10(np.maximum(amin, S))
    log_spec -= 10.0 * np.log10(np.maximum(amin, 1.0))
    return np.maximum(log_spec, log_spec.max() - top_db)


@lru_cache(maxsize=8)
def _dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II basis ``(n_out, n_in)``: ``scipy.fft.dct(norm="ortho")`` as a matrix."""
    k = np.arange(n_out)[:, np.newaxis]
    n = np.arange(n_in)[np.newaxis, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return _readonly(basis)


def mfcc(log_mel: np.ndarray, n_mfcc: int = 20) -> np.ndarray:
    """First ``n_mfcc`` orthonormal DCT-II coefficients of each frame of a dB mel spectrogram.

    Coefficients above the first ignore a frame's mean, so they are taken of the centred
    frame: a constant frame (silence) gets exact zeros, as the FFT-based DCT gives.
    """
    basis = _dct_matrix(log_mel.shape[0], n_mfcc)
    x = log_mel.astype(np.float64)
    out = np.empty((n_mfcc, x.shape[1]))
    out[:1] = basis[:1] @ x
    out[1:] = basis[1:] @ (x - x.mean(axis=0))
    return out.astype(log_mel.dtype)


def rms(y: np.ndarray, *, frame_length: int, hop_length: int, pad_mode: str) -> np.ndarray:
    """Centred frame-wise root mean square, ``(1, n_frames)``: ``librosa.feature.rms(y=y, ...)``."""
    padded = np.pad(y, frame_length // 2, mode=pad_mode)
    power = np.mean(np.square(frame(padded, frame_length, hop_length), dtype=np.float32), axis=0)
    return np.sqrt(power)[np.newaxis, :]


def spectral_bandwidth(normed: np.ndarray, freq: np.ndarray, centroid: np.ndarray) -> np.ndarray:
    """Second-order bandwidth of an L1-normalised spectrogram about its centroid, ``(1, t)``."""
    deviation = np.abs(np.subtract.outer(centroid[0], freq).swapaxes(-2, -1))
    return np.sum(normed * deviation**2, axis=-2, keepdims=True) ** (1.0 / 2)


def localmax_interior(x: np.ndarray) -> np.ndarray:
    """``librosa.util.localmax(x, axis=0)[1:-1]``: strictly above the row before, not below the next."""
    return (x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])


def parabolic_shift_interior(x: np.ndarray) -> np.ndarray:
    """Vertex offsets of parabolas through each row's neighbours along axis 0, rows ``1:-1``.

    ``librosa.core.pitch._parabolic_interpolation`` (a numba stencil, which promotes the
    ``2 * x`` and ``/ 2`` terms to float64); 0 where the vertex lies beyond a neighbour.
    """
    curvature = (x[2:] + x[:-2]).astype(np.float64) - 2 * x[1:-1].astype(np.float64)
    slope = (x[2:] - x[:-2]).astype(np.float64) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(slope) >= np.abs(curvature), 0.0, -slope / curvature)
    return shift.astype(x.dtype)


def pitch_tuning(frequencies: np.ndarray, resolution: float = 0.01) -> float:
    """Most common deviation of ``frequencies`` from A440's equal temperament, in bins."""
    frequencies = np.atleast_1d(frequencies)
    frequencies = frequencies[frequencies > 0]
    if not np.any(frequencies):
        return 0.0
    residual = np.mod(12 * np.log2(np.asanyarray(frequencies) / (440.0 / 16)), 1.0)
    residual[residual >= 0.5] -= 1.0
    bins = np.linspace(-0.5, 0.5, int(np.ceil(1.0 / resolution)) + 1)
    counts, edges = np.histogram(residual, bins)
    return float(edges[np.argmax(counts)])


def onset_strength(log_mel: np.ndarray, *, n_fft: int, hop_length: int) -> np.ndarray:
    """Median spectral flux of a dB mel spectrogram, centred on the frames:
    ``librosa.onset.onset_strength(S=log_mel, aggregate=np.median, ...)``."""
    flux = np.maximum(0.0, log_mel[:, 1:] - log_mel[:, :-1])
    envelope = np.empty((1, flux.shape[1]), dtype=flux.dtype)
    envelope[0] = np.median(flux, axis=0)
    envelope = np.pad(envelope, [(0, 0), (1 + n_fft // (2 * hop_length), 0)], mode="constant")
    return envelope[0, : log_mel.shape[1]]


def _next_fast_len(n: int) -> int:
    """Smallest 2·3·5-smooth length >= ``n``: ``scipy.fft.next_fast_len(n, real=True)``."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def tempo(
    envelope: np.ndarray,
    sr: float,
    *,
    hop_length: int,
    start_bpm: float = 120.0,
    std_bpm: float = 1.0,
    max_tempo: float = 320.0,
    ac_size: float = 8.0,
) -> float:
    """Tempo (BPM) of an onset envelope: ``librosa.feature.tempo(onset_envelope=...)``.

    The mean over time of the autocorrelation tempogram (8 s Hann windows, each column
    scaled to peak 1), weighted by a log-normal prior around ``start_bpm``.
    """
    win = int(int(ac_size * sr) // hop_length)
    n = envelope.shape[-1]
    padded = np.pad(envelope, (win // 2, win // 2), mode="linear_ramp", end_values=[0, 0])
    # One row per frame: FFTs along contiguous rows are about twice as fast as along
    # columns and give the same numbers.
    rows = frame(padded, win, 1).T
    size = _next_fast_len(2 * win - 1)
    # Each frame's autocorrelation is scaled to peak 1 on its own: blocks of frames give the
    # same tempogram columns with a fraction of the float64 temporaries. The mean over time
    # then adds them in librosa's order.
    tempogram = np.empty((win, n))
    for start in range(0, n, _TEMPO_BLOCK):
        stop = min(start + _TEMPO_BLOCK, n)
        spectrum = np.fft.rfft(rows[start:stop] * hann(win), n=size, axis=-1)
        power = spectrum.real**2 + spectrum.imag**2
        autocorrelation = np.fft.irfft(power, n=size, axis=-1)[:, :win]
        tempogram[:, start:stop] = normalize(autocorrelation, norm=np.inf, axis=1).T
    mean = np.mean(tempogram, axis=-1, keepdims=True)
    bpms = np.zeros(win, dtype=np.float64)
    bpms[0] = np.inf
    bpms[1:] = 60.0 * sr / (hop_length * np.arange(1.0, win))
    logprior = -0.5 * ((np.log2(bpms) - np.log2(start_bpm)) / std_bpm) ** 2
    logprior[: int(np.argmax(bpms < max_tempo))] = -np.inf
    best = np.argmax(np.log1p(1e6 * mean) + logprior[:, np.newaxis], axis=-2)
    return float(np.take(bpms, best)[0])


@lru_cache(maxsize=16)
def window_sumsquare(n_frames: int, n_fft: int, hop_length: int) -> np.ndarray:
    """Overlap-added squared Hann windows, float32: ``librosa.filters.window_sumsquare``."""
    size = n_fft + hop_length * (n_frames - 1)
    out = np.zeros(size, dtype=np.float32)
    squared = hann(n_fft) ** 2
    for i in range(n_frames):
        start = i * hop_length
        out[start : min(size, start + n_fft)] += squared[: max(0, min(n_fft, size - start))]
    return _readonly(out)


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """soxr high-quality resampling cut or padded to ``ceil(len * ratio)`` samples:
    ``librosa.resample(y, res_type="soxr_hq")``."""
    import soxr

    size = int(np.ceil(y.shape[-1] * float(target_sr) / orig_sr))
    out = soxr.resample(y, orig_sr, target_sr, quality="soxr_hq")
    if out.shape[-1] > size:
        out = out[:size]
    elif out.shape[-1] < size:
        out = np.pad(out, (0, size - out.shape[-1]))
    return np.asarray(out, dtype=y.dtype)
