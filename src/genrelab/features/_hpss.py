"""``reference.hpss_signals`` (librosa's HPSS, then two inverse STFTs), exact and ~25x faster.

librosa's HPSS runs ``scipy.ndimage.median_filter`` twice over the whole spectrogram with a
31-tap window: ~90% of the reference feature time. A median selects one of its inputs, so any
correct running median returns the very same values; the one here keeps a sorted window per
row and updates it with branch-free min/max steps that numba vectorises across rows (about 7x
faster than scipy's 1-D rank filter, 60x faster than its N-d one).

The soft masks, the phase and the inverse STFTs then repeat librosa's float32/float64
operations in the same order, fused into numba loops over blocks of frames, without
librosa's full-size temporaries. The waveforms come out bit for bit the same.
"""

from __future__ import annotations

from collections.abc import Callable

import numba
import numpy as np

from genrelab.features import dsp

#: Rows of the input filtered together: their sorted windows stay in L1 cache.
_LANES = 128
#: STFT frames inverted together: their intermediates stay in L2 cache.
_FRAMES = 64
_TINY32 = np.finfo(np.float32).tiny


def _running_median_impl(x: np.ndarray, rows: np.ndarray, size: int, out: np.ndarray) -> None:
    """``out[t, l] = median(x[rows[t:t + size], l])`` for C-contiguous 2-D ``x``."""
    n_out, n_lanes = out.shape
    half = size // 2
    # Sorted window of each lane, in columns, with a +inf row below the last.
    win = np.empty((size + 1, _LANES), x.dtype)
    prev = np.empty(_LANES, x.dtype)
    for l0 in range(0, n_lanes, _LANES):
        nl = min(_LANES, n_lanes - l0)
        for lane in range(nl):
            for i in range(size):
                v = x[rows[i], l0 + lane]
                j = i - 1
                while j >= 0 and win[j, lane] > v:
                    win[j + 1, lane] = win[j, lane]
                    j -= 1
                win[j + 1, lane] = v
            win[size, lane] = np.inf
            out[0, l0 + lane] = win[half, lane]
        for t in range(1, n_out):
            old = x[rows[t - 1], l0 : l0 + nl]
            new = x[rows[t + size - 1], l0 : l0 + nl]
            prev[:nl] = -np.inf
            # Drop the first copy of `old` and insert `new`: entry j of the result is
            # max(min(d[j], new), d[j-1]) where d is the window without `old`.
            for j in range(size):
                for lane in range(nl):
                    here = win[j, lane]
                    below = win[j + 1, lane]
                    d = here if here < old[lane] else below
                    c = d if d < new[lane] else new[lane]
                    p = prev[lane]
                    win[j, lane] = c if c > p else p
                    prev[lane] = d
            for lane in range(nl):
                out[t, l0 + lane] = win[half, lane]


def _masked_parts_impl(
    stft: np.ndarray, mag: np.ndarray, harm: np.ndarray, perc: np.ndarray, out: np.ndarray
) -> None:
    """Both HPSS parts ``(mag * mask) * phase`` as float32 (real, imag) pairs in ``out``.

    The float32 arithmetic of ``hpss``: ``softmask(harm, perc, power=2, split_zeros=True)``
    and its complement (they share ``max(harm, perc)`` and the squared ratios, and a + b is
    b + a), ``magphase``'s phase, and a real times a complex number (whose zero imaginary
    part can change at most the sign of a zero).
    """
    one, zero, half = np.float32(1), np.float32(0), np.float32(0.5)
    for k in range(mag.shape[0]):
        for f in range(mag.shape[1]):
            h = harm[k, f]
            p = perc[k, f]
            z = h if h > p else p
            if z < _TINY32:
                mask_h = half
                mask_p = half
            else:
                rh = h / z
                rp = p / z
                a = rh * rh
                b = rp * rp
                mask_h = a / (a + b)
                mask_p = b / (a + b)
            m = mag[k, f]
            bump = one if m == zero else zero
            real = stft[k, f].real / (m + bump) + bump
            imag = stft[k, f].imag / (m + bump)
            s = m * mask_h
            out[0, k, f, 0] = s * real
            out[0, k, f, 1] = s * imag
            s = m * mask_p
            out[1, k, f, 0] = s * real
            out[1, k, f, 1] = s * imag


def _overlap_add_impl(
    signal: np.ndarray, frames: np.ndarray, window: np.ndarray, first: int, hop: int
) -> None:
    """librosa's ``istft`` overlap-add: frame ``first + k`` times the float64 ``window``,
    added into float32 ``signal`` at ``(first + k) * hop``, one frame after the other."""
    for k in range(frames.shape[0]):
        base = (first + k) * hop
        for i in range(frames.shape[1]):
            signal[base + i] = signal[base + i] + window[i] * frames[k, i]


def _jit(fn: Callable[..., None]) -> Callable[..., None]:
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # numba finds no writable cache folder: compile in each process
        return numba.njit(nogil=True)(fn)


_running_median = _jit(_running_median_impl)
_masked_parts = _jit(_masked_parts_impl)
_overlap_add = _jit(_overlap_add_impl)


def compile_kernels() -> None:
    """Compile (or load from numba's cache) every kernel here, now.

    Call it once before starting worker processes: several fresh processes compiling the
    same ``cache=True`` kernels at the same moment can corrupt numba's on-disk cache.
    """
    spectrum = np.abs(np.random.default_rng(0).normal(size=(5, 4))).astype(np.float32)
    hpss_signals(spectrum.astype(np.complex64), spectrum, 1536, n_fft=8, hop_length=2, kernel=3)


def median_filter(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """``scipy.ndimage.median_filter`` of 2-D ``x`` over ``size`` taps along ``axis`` only.

    Same values as scipy with ``mode='reflect'`` (edges mirrored, repeatedly when ``x`` is
    shorter than the window), except on axes of 2 or 3 samples, where scipy 1.17 can read
    past the array.
    """
    if x.ndim != 2 or axis not in (0, 1) or size < 1 or size % 2 == 0:
        raise ValueError("median_filter needs a 2-D array, axis 0 or 1 and an odd size")
    lanes = np.ascontiguousarray(x if axis == 0 else x.T)
    rows = np.pad(np.arange(lanes.shape[0]), size // 2, mode="symmetric")
    out = np.empty_like(lanes)
    _running_median(lanes, rows, size, out)
    return out if axis == 0 else out.T


def hpss_signals(
    stft: np.ndarray, mag: np.ndarray, size: int, *, n_fft: int, hop_length: int, kernel: int = 31
) -> np.ndarray:
    """Harmonic and percussive waveforms, shape ``(2, size)``, of ``reference.hpss_signals``.

    ``stft`` is the reflect-padded STFT of the signal of ``size`` samples, ``mag`` its
    ``abs``. Like the reference, the inverse STFTs run without ``length`` and are then cut or
    zero-padded to ``size``.
    """
    harm = median_filter(mag, kernel, axis=1)
    perc = median_filter(mag, kernel, axis=0)
    n_bins, n_frames = mag.shape
    window = dsp.hann(n_fft)
    padded = np.zeros((2, n_fft + hop_length * (n_frames - 1)), dtype=np.float32)
    parts = np.empty((2, _FRAMES, n_bins, 2), dtype=np.float32)
    # Frames as rows, so that the FFTs run over contiguous memory.
    stft_t, mag_t, harm_t, perc_t = stft.T, mag.T, harm.T, perc.T
    for start in range(0, n_frames, _FRAMES):
        rows = slice(start, min(start + _FRAMES, n_frames))
        block = parts[:, : rows.stop - start]
        _masked_parts(stft_t[rows], mag_t[rows], harm_t[rows], perc_t[rows], block)
        frames = np.fft.irfft(block.view(np.complex64)[..., 0], n=n_fft, axis=-1)
        for part in range(2):
            _overlap_add(padded[part], frames[part], window, start, hop_length)
    # istft without `length` keeps hop * (n_frames - 1) samples after n_fft // 2 of padding,
    # divided by the window's summed square where that is not ~0; fix_length then pads/cuts.
    keep = min(size, hop_length * (n_frames - 1))
    norm = dsp.window_sumsquare(n_frames, n_fft, hop_length)[n_fft // 2 : n_fft // 2 + keep]
    out = np.zeros((2, size), dtype=np.float32)
    out[:, :keep] = padded[:, n_fft // 2 : n_fft // 2 + keep]
    np.divide(out[:, :keep], norm, out=out[:, :keep], where=norm > dsp.tiny(norm.dtype))
    return out
