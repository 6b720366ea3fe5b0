"""`features.dsp` returns librosa's numbers bit for bit (the MFCC's DCT to float32 rounding)."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
import scipy.fft
import scipy.signal
from librosa.core.pitch import _parabolic_interpolation

from genrelab import synth
from genrelab.features import dsp

SONG = synth.song(5.0, style="rock", seed=3)


def _same(ours: np.ndarray, theirs: np.ndarray) -> None:
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("n", [1, 2, 7, 344, 512, 2047, 2048])
def test_hann_is_scipys_periodic_window(n: int) -> None:
    _same(dsp.hann(n), scipy.signal.get_window("hann", n, fftbins=True))


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
@pytest.mark.parametrize(("n_fft", "hop"), [(2048, 512), (512, 256), (1024, 300)])
@pytest.mark.parametrize("size", [1000, 22050, 5 * 22050 + 13])
def test_stft_equals_librosa(pad_mode: str, n_fft: int, hop: int, size: int) -> None:
    y = SONG[:size]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = dsp.stft(y, n_fft=n_fft, hop_length=hop, pad_mode=pad_mode)
    assert [str(w.message) for w in caught] == (
        [f"n_fft={n_fft} is too large for input signal of length={size}"] if n_fft > size else []
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = librosa.stft(y, n_fft=n_fft, hop_length=hop, pad_mode=pad_mode)
    _same(ours, theirs)
    assert ours.flags.f_contiguous  # later reductions must sum in librosa's order


def test_stft_of_float64_is_complex128() -> None:
    y = SONG[:4096].astype(np.float64)
    _same(dsp.stft(y, n_fft=512, hop_length=128), librosa.stft(y, n_fft=512, hop_length=128))


@pytest.mark.parametrize(
    ("sr", "n_fft", "n_mels", "fmax"),
    [
        (22050, 2048, 128, None),
        (16000, 512, 96, None),
        (22050, 2048, 128, 11025.0),
        (44100, 1024, 40, 8000.0),
    ],
)
def test_mel_filters_equal_librosa(sr: int, n_fft: int, n_mels: int, fmax: float | None) -> None:
    ours = dsp.mel_filters(sr, n_fft, n_mels, fmax)
    _same(ours, librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmax=fmax))
    assert not ours.flags.writeable  # cached: nobody may change it in place


@pytest.mark.parametrize("tuning", [0.0, -0.13, 0.37, -0.5, 0.49])
@pytest.mark.parametrize(("sr", "n_fft"), [(22050, 2048), (16000, 1024)])
def test_chroma_filters_equal_librosa(tuning: float, sr: int, n_fft: int) -> None:
    _same(
        dsp.chroma_filters(sr, n_fft, tuning),
        librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning),
    )


def test_mel_to_hz_and_back_match_librosa() -> None:
    hz = np.array([0.0, 20.0, 440.0, 999.9, 1000.0, 1000.1, 8000.0, 11025.0])
    _same(dsp.hz_to_mel(hz), librosa.hz_to_mel(hz))
    mels = np.linspace(0, 60, 17)
    _same(dsp.mel_to_hz(mels), librosa.mel_to_hz(mels))
    assert float(dsp.hz_to_mel(1500.0)) == float(librosa.hz_to_mel(1500.0))


@pytest.fixture(scope="module")
def power() -> np.ndarray:
    return np.abs(librosa.stft(SONG, n_fft=2048, hop_length=512, pad_mode="reflect")) ** 2


def test_mel_power_and_decibels_equal_librosa(power: np.ndarray) -> None:
    mel = librosa.feature.melspectrogram(S=power, sr=22050, n_fft=2048)
    _same(dsp.melspectrogram(power, 22050, 2048), mel)
    _same(dsp.power_to_db(mel), librosa.power_to_db(mel))
    silent = np.zeros((4, 5), dtype=np.float32)
    _same(dsp.power_to_db(silent), librosa.power_to_db(silent))


def test_mfcc_is_within_float32_rounding_of_librosa(power: np.ndarray) -> None:
    log_mel = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=22050, n_fft=2048))
    ours = dsp.mfcc(log_mel, 20)
    theirs = librosa.feature.mfcc(S=log_mel, n_mfcc=20)
    assert ours.dtype == theirs.dtype == np.float32 and ours.shape == theirs.shape == (
        20,
        power.shape[1],
    )
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=4 * np.spacing(np.abs(theirs).max()))


def test_mfcc_of_a_constant_frame_is_exactly_its_first_coefficient() -> None:
    log_mel = np.full((128, 3), -100.0, dtype=np.float32)
    ours = dsp.mfcc(log_mel, 20)
    assert (ours[1:] == 0).all()
    np.testing.assert_allclose(ours[0], scipy.fft.dct(log_mel, axis=0, norm="ortho")[0], rtol=1e-6)


@pytest.mark.parametrize("norm", [1, 2, np.inf])
def test_normalize_equals_librosa(power: np.ndarray, norm: float) -> None:
    x = np.sqrt(power)
    x[:, 3] = 0  # a silent column stays as it is
    _same(dsp.normalize(x, norm), librosa.util.normalize(x, norm=norm, axis=0))


@pytest.mark.parametrize("pad_mode", ["reflect", "constant"])
def test_rms_equals_librosa(pad_mode: str) -> None:
    _same(
        dsp.rms(SONG, frame_length=2048, hop_length=512, pad_mode=pad_mode),
        librosa.feature.rms(y=SONG, frame_length=2048, hop_length=512, pad_mode=pad_mode),
    )


def test_peak_picking_pieces_equal_librosa(power: np.ndarray) -> None:
    x = power.copy()
    x[100:110, :] = x[100, :]  # plateaus: ties on either side
    _same(dsp.localmax_interior(x), librosa.util.localmax(x, axis=0)[1:-1])
    _same(dsp.parabolic_shift_interior(x), _parabolic_interpolation(x, axis=0)[1:-1])


def test_pitch_tuning_equals_librosa() -> None:
    rng = np.random.default_rng(0)
    freqs = np.abs(rng.normal(440, 60, 800))
    freqs[:50] = 0  # ignored, as librosa ignores them
    assert dsp.pitch_tuning(freqs) == librosa.pitch_tuning(freqs)
    assert dsp.pitch_tuning(np.zeros(3)) == 0.0


@pytest.mark.parametrize("style", ["rock", "disco", "classical"])
def test_onset_envelope_and_tempo_equal_librosa(style: str) -> None:
    y = synth.song(12.0, style=style, seed=9)
    power = np.abs(librosa.stft(y, n_fft=2048, hop_length=512)) ** 2
    log_mel = librosa.power_to_db(
        librosa.feature.melspectrogram(S=power, sr=22050, n_fft=2048, fmax=11025.0)
    )
    ours = dsp.onset_strength(log_mel, n_fft=2048, hop_length=512)
    theirs = librosa.onset.onset_strength(S=log_mel, sr=22050, hop_length=512, aggregate=np.median)
    _same(ours, theirs)
    bpm = librosa.feature.tempo(onset_envelope=theirs, sr=22050, hop_length=512)[0]
    assert dsp.tempo(ours, 22050, hop_length=512) == bpm
    assert (
        dsp.tempo(ours, 16000, hop_length=300)
        == librosa.feature.tempo(onset_envelope=theirs, sr=16000, hop_length=300)[0]
    )


@pytest.mark.parametrize("n", [1, 2, 97, 767, 1000, 1151, 4097])
def test_next_fast_len_is_scipys_for_real_transforms(n: int) -> None:
    assert dsp._next_fast_len(n) == scipy.fft.next_fast_len(n, real=True)


@pytest.mark.parametrize(("n_frames", "hop"), [(1, 512), (100, 512), (37, 300)])
def test_window_sumsquare_equals_librosa(n_frames: int, hop: int) -> None:
    _same(
        dsp.window_sumsquare(n_frames, 2048, hop),
        librosa.filters.window_sumsquare(
            window="hann", n_frames=n_frames, n_fft=2048, hop_length=hop, dtype=np.float32
        ),
    )


@pytest.mark.parametrize("size", [1, 100, 3 * 22050 + 17])
@pytest.mark.parametrize(("orig", "target"), [(22050, 16000), (44100, 22050), (8000, 16000)])
def test_resample_equals_librosa_soxr_hq(size: int, orig: int, target: int) -> None:
    y = SONG[:size]
    _same(
        dsp.resample(y, orig, target),
        librosa.resample(y, orig_sr=orig, target_sr=target, res_type="soxr_hq"),
    )


def test_frame_refuses_input_shorter_than_a_frame() -> None:
    with pytest.raises(ValueError, match="shorter"):
        dsp.frame(np.zeros(10, dtype=np.float32), 16, 4)
