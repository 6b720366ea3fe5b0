"""`features.fast` matches the reference's 57 GTZAN features, on real and fake audio.

Bit for bit, except the MFCCs, whose DCT differs by about one float32 rounding (see `dsp`).
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pandas as pd
import pytest
import scipy.ndimage
import soundfile as sf
from numpy.lib.stride_tricks import sliding_window_view

from genrelab import synth
from genrelab.audio import fixed_windows
from genrelab.errors import AudioError
from genrelab.features import fast, reference
from genrelab.features._hpss import hpss_signals, median_filter

NAMES = reference.GTZAN_FEATURE_NAMES
#: Relative tolerance per feature (default 1e-3); HPSS variances drift a little more.
RTOL = {"harmony_var": 2e-3, "perceptr_var": 2e-3}
#: Near-zero means are compared absolutely: their relative error is meaningless.
ATOL = {"harmony_mean": 1e-5, "perceptr_mean": 1e-5}
HPSS_FEATURES = [NAMES.index(f"{p}_{s}") for p in ("harmony", "perceptr") for s in ("mean", "var")]


MFCC = np.array([n.startswith("mfcc") for n in NAMES])


def _assert_same(ours: np.ndarray, theirs: np.ndarray, what: str = "") -> None:
    """Identical values, except MFCCs within a few float32 roundings."""
    np.testing.assert_array_equal(ours[..., ~MFCC], theirs[..., ~MFCC], err_msg=what)
    np.testing.assert_allclose(
        ours[..., MFCC], theirs[..., MFCC], rtol=1e-5, atol=1e-5, err_msg=what
    )


def _assert_parity(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    """Every feature within its tolerance of ``theirs``; NaN only where ``theirs`` is NaN."""
    assert ours.shape == theirs.shape == (len(NAMES),)
    allowed = np.array(
        [ATOL.get(n, RTOL.get(n, 1e-3) * abs(t)) for n, t in zip(NAMES, theirs, strict=True)]
    )
    ok = (np.abs(ours - theirs) <= allowed) | (np.isnan(ours) & np.isnan(theirs))
    bad = "; ".join(f"{NAMES[i]}: {ours[i]:.7g} vs {theirs[i]:.7g}" for i in np.flatnonzero(~ok))
    assert ok.all(), f"{what}: {bad}"


# --- median filter ------------------------------------------------------------------------


def _brute_median(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """The definition: median of each window of the reflect-padded ('symmetric') array."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (size // 2, size // 2)
    windows = sliding_window_view(np.pad(x, pad, mode="symmetric"), size, axis=axis)
    return np.median(windows, axis=-1).astype(x.dtype)


@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 5), (4, 1), (5, 4), (17, 40), (40, 17), (33, 31), (300, 7), (129, 130)]
)
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("size", [1, 3, 31])
def test_median_filter_equals_scipy(shape: tuple[int, int], axis: int, size: int) -> None:
    rng = np.random.default_rng(sum(shape) + 10 * axis + size)
    x = rng.random(shape, dtype=np.float32)
    x[rng.random(shape) < 0.3] = 0.5  # ties
    footprint = (size, 1) if axis == 0 else (1, size)
    expected = scipy.ndimage.median_filter(x, size=footprint, mode="reflect")
    np.testing.assert_array_equal(median_filter(x, size, axis), expected)


def test_median_filter_takes_float64_and_any_memory_order() -> None:
    x = np.asfortranarray(np.random.default_rng(0).normal(size=(50, 70)))
    for axis, footprint in ((0, (31, 1)), (1, (1, 31))):
        expected = scipy.ndimage.median_filter(x, size=footprint, mode="reflect")
        np.testing.assert_array_equal(median_filter(x, 31, axis), expected)


@pytest.mark.parametrize("length", [2, 3])
def test_median_filter_is_right_on_short_axes_where_scipy_is_not(length: int) -> None:
    # scipy 1.17's N-d rank filter can read past an axis of 2 or 3 samples when the window
    # is longer (NaN or other rows' values): the reference's HPSS of 2-3 frame signals.
    x = np.asfortranarray(np.random.default_rng(length).random((50, length), dtype=np.float32))
    np.testing.assert_array_equal(median_filter(x, 31, 1), _brute_median(x, 31, 1))
    np.testing.assert_array_equal(median_filter(x.T, 31, 0), _brute_median(x.T, 31, 0))


def test_median_filter_rejects_even_windows() -> None:
    with pytest.raises(ValueError, match="odd"):
        median_filter(np.zeros((3, 3), dtype=np.float32), 4, 0)


# --- pieces that replace librosa calls -------------------------------------------------------


@pytest.mark.parametrize(("sr", "n_fft"), [(22050, 2048), (8000, 512), (44100, 1024)])
def test_estimate_tuning_equals_librosa(sr: int, n_fft: int) -> None:
    y = synth.chords(2.0, sr=sr, root=233.0, seed=sr) + synth.noise(2.0, sr=sr, amp=0.05)
    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=n_fft // 4)) ** 2
    expected = librosa.estimate_tuning(S=power, sr=sr, n_fft=n_fft, bins_per_octave=12)
    assert fast.estimate_tuning(power, sr, n_fft) == expected


@pytest.mark.parametrize("size", [1, 700, 12345])
@pytest.mark.parametrize(("frame_length", "hop_length"), [(2048, 512), (1024, 300)])
def test_zero_crossing_rate_equals_librosa(size: int, frame_length: int, hop_length: int) -> None:
    rng = np.random.default_rng(size)
    y = rng.normal(size=size).astype(np.float32)
    # Exact zeros of both signs and values either side of librosa's 1e-10 zero threshold.
    specials = np.array([0.0, -0.0, 1e-10, -1e-10, 1.1e-10, -1.1e-10, 1e-12, -1e-12], np.float32)
    pick = rng.random(size) < 0.3
    y[pick] = rng.choice(specials, size=int(pick.sum()))
    expected = librosa.feature.zero_crossing_rate(
        y, frame_length=frame_length, hop_length=hop_length
    )
    ours = fast.zero_crossing_rate(y, frame_length=frame_length, hop_length=hop_length)
    np.testing.assert_array_equal(ours, expected)


@pytest.mark.parametrize("size", [1000, 8192, 8193, 12345, 3 * 22050 + 17])
@pytest.mark.parametrize("hop_length", [512, 300])
def test_onset_spectrogram_equals_constant_padded_stft(size: int, hop_length: int) -> None:
    y = synth.song(size / 22050 + 0.01, style="disco", seed=size)[:size]
    power = fast.spectrogram(y, n_fft=fast.BEAT_N_FFT, hop_length=hop_length)[2]
    expected = np.abs(librosa.stft(y, n_fft=fast.BEAT_N_FFT, hop_length=hop_length)) ** 2
    np.testing.assert_array_equal(fast._constant_padded_power(y, power, hop_length), expected)


@pytest.mark.parametrize("hop_length", [512, 300])
def test_hpss_signals_equal_reference(hop_length: int) -> None:
    y = synth.song(4.0, style="rock", seed=5)
    stft, mag, _ = fast.spectrogram(y, n_fft=2048, hop_length=hop_length)
    ours = hpss_signals(stft, mag, y.size, n_fft=2048, hop_length=hop_length)
    expected = np.stack(reference.hpss_signals(y, n_fft=2048, hop_length=hop_length))
    np.testing.assert_array_equal(ours, expected)


# --- the 57 features on synthetic edge cases -------------------------------------------------

_SONG = synth.song(4.0, style="rock", seed=3)
EDGE_CASES = {
    "odd length": (_SONG[:12345], 22050),
    "1 s + 1 sample": (_SONG[:22051], 22050),
    "silence": (np.zeros(2 * 22050, dtype=np.float32), 22050),
    "hard clipped": (np.clip(8 * _SONG, -1, 1), 22050),
    "shorter than n_fft": (_SONG[:1800], 22050),
    "shorter than a hop": (_SONG[:300], 22050),
    "one sample": (_SONG[:1], 22050),
    "pure tone": (synth.tone(440.0, 2.0), 22050),
    "16 kHz": (synth.song(3.0, sr=16000, style="disco", seed=1), 16000),
    "44.1 kHz": (synth.song(2.0, sr=44100, style="classical", seed=2), 44100),
}


@pytest.mark.filterwarnings("ignore::UserWarning")  # librosa: n_fft too large, empty tuning set
@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_features_equal_reference_on_edge_cases(case: str) -> None:
    y, sr = EDGE_CASES[case]
    ours = fast.gtzan_features(y, sr)
    theirs = reference.gtzan_features(y, sr)
    _assert_parity(ours, theirs, case)
    _assert_same(ours, theirs, f"{case}: within tolerance, not identical")


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("size", [1000, 1500])
def test_two_or_three_frame_signals_get_finite_hpss_features(size: int) -> None:
    # 512 <= n < 1536 samples make 2 or 3 STFT frames, where scipy's median filter (so the
    # reference's harmony/perceptr features) can go wrong; the rest must still match.
    y = _SONG[:size]
    ours = fast.gtzan_features(y, 22050)
    theirs = reference.gtzan_features(y, 22050)
    assert np.isfinite(ours).all()
    rest = ours.copy()
    rest[HPSS_FEATURES] = theirs[HPSS_FEATURES]
    _assert_same(rest, theirs)


def test_other_stft_sizes_equal_reference() -> None:
    y = _SONG[: 2 * 22050]
    ours = fast.gtzan_features(y, 22050, n_fft=1024, hop_length=256)
    _assert_same(ours, reference.gtzan_features(y, 22050, n_fft=1024, hop_length=256))


# --- windows -------------------------------------------------------------------------------


def test_windows_equal_reference_on_each_window() -> None:
    y = synth.song(7.3, style="disco", seed=4)
    rows = fast.gtzan_features_windows(y, 22050, window_s=3.0, hop_s=1.7)
    windows = fixed_windows(y.size, 22050, 3.0, 1.7)
    assert rows.shape == (len(windows), len(NAMES)) == (3, 57)
    for row, window in zip(rows, windows, strict=True):
        _assert_same(row, reference.gtzan_features(window.take(y), 22050))


def test_signal_shorter_than_a_window_is_one_row() -> None:
    y = _SONG[: 22050 * 2]
    rows = fast.gtzan_features_windows(y, 22050, window_s=30.0)
    np.testing.assert_array_equal(rows, fast.gtzan_features(y, 22050)[np.newaxis])


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.zeros((2, 4000), dtype=np.float32), "mono"),
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.array([0.1, np.nan] * 2000, dtype=np.float32), "NaN"),
    ],
)
def test_bad_signals_raise_audio_error(y: np.ndarray, message: str) -> None:
    with pytest.raises(AudioError, match=message):
        fast.gtzan_features(y, 22050)
    with pytest.raises(AudioError, match=message):
        fast.gtzan_features_windows(y, 22050, window_s=1.0)


# --- the 30 real dev clips -----------------------------------------------------------------


@pytest.fixture(scope="module")
def dev_clips(gtzan_dev: Path) -> dict[str, tuple[np.ndarray, int]]:
    clips = {}
    for path in sorted(gtzan_dev.glob("*/*.wav")):
        y, sr = sf.read(path, dtype="float32")
        clips[path.name] = (y, sr)
    assert len(clips) == 30
    return clips


@pytest.fixture(scope="module")
def fast_dev(dev_clips: dict[str, tuple[np.ndarray, int]]) -> dict[str, np.ndarray]:
    return {name: fast.gtzan_features(y, sr) for name, (y, sr) in dev_clips.items()}


@pytest.mark.shared
def test_dev_clips_match_the_kaggle_table(
    fast_dev: dict[str, np.ndarray], feature_table: Path
) -> None:
    table = pd.read_csv(feature_table).set_index("filename")
    for name, ours in fast_dev.items():
        _assert_parity(ours, table.loc[name, list(NAMES)].to_numpy(np.float64), f"{name} vs table")


@pytest.mark.shared
def test_a_dev_clip_equals_reference(dev_clips: dict, fast_dev: dict[str, np.ndarray]) -> None:
    y, sr = dev_clips["rock.00000.wav"]
    _assert_same(fast_dev["rock.00000.wav"], reference.gtzan_features(y, sr))


@pytest.mark.shared
@pytest.mark.slow
def test_all_dev_clips_equal_reference(dev_clips: dict, fast_dev: dict[str, np.ndarray]) -> None:
    for name, (y, sr) in dev_clips.items():
        theirs = reference.gtzan_features(y, sr)
        _assert_parity(fast_dev[name], theirs, f"{name} vs reference")
        _assert_same(fast_dev[name], theirs, name)
