"""Spectrogram and waveform front ends: shapes, padding, compression, and card round trips."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab import synth
from genrelab.errors import ModelError
from genrelab.features.frontends import build_frontend

SR = 8000


def windows(n: int = 3, seconds: float = 1.0) -> list[np.ndarray]:
    return [synth.tone(300 * (i + 1), seconds, SR) for i in range(n)]


@pytest.mark.parametrize(
    ("spec", "shape"),
    [
        ({"kind": "melspec", "n_mels": 40, "n_fft": 512, "hop": 256}, (3, 40, 32)),
        ({"kind": "logspec", "n_bins": 36, "fmin": 110.0, "hop": 256}, (3, 36, 32)),
        ({"kind": "stft", "n_fft": 256, "hop": 256}, (3, 129, 32)),
        ({"kind": "mfcc", "n_mfcc": 13, "n_mels": 40, "n_fft": 512, "hop": 256}, (3, 13, 32)),
        ({"kind": "waveform"}, (3, 8000)),
    ],
)
def test_each_front_end_gives_one_float32_input_per_window(spec, shape):
    X = build_frontend({**spec, "duration": 1.0})(windows(), SR)
    assert X.shape == shape
    assert X.dtype == np.float32 and np.isfinite(X).all()


def test_duration_pads_short_and_cuts_long_windows_to_the_trained_shape():
    frontend = build_frontend({"kind": "melspec", "n_mels": 32, "n_fft": 512, "duration": 1.0})
    mixed = [synth.tone(440, 0.4, SR), synth.tone(440, 1.0, SR), synth.tone(440, 1.7, SR)]
    X = frontend(mixed, SR)
    assert X.shape[0] == 3 and X[0].shape == X[1].shape == X[2].shape
    np.testing.assert_allclose(X[1], X[2], atol=1e-4)  # cut: the first second is the same tone
    assert X[0][:, -5:].max() < X[1][:, -5:].max() - 40  # padded tail is silence (dB floor)


def test_the_mel_peak_follows_the_tone_frequency():
    frontend = build_frontend({"kind": "melspec", "n_mels": 64, "n_fft": 1024, "duration": 1.0})
    X = frontend([synth.tone(300, 1.0, SR), synth.tone(2000, 1.0, SR)], SR)
    low, high = X.mean(axis=2).argmax(axis=1)
    assert high > low + 10


def test_log1p_compression_is_monotonic_in_loudness_and_db_is_absolute():
    quiet, loud = synth.tone(440, 1.0, SR, amp=0.05), synth.tone(440, 1.0, SR, amp=0.5)
    for scale in ("db", "log1p"):
        X = build_frontend({"kind": "melspec", "scale": scale, "compression": 100.0})(
            [quiet, loud], SR
        )
        assert X[1].max() > X[0].max()
    db = build_frontend({"kind": "melspec"})([quiet, loud], SR)
    assert db[1].max() - db[0].max() == pytest.approx(20.0, abs=0.1)  # 10x amplitude = +20 dB


def test_bad_front_end_settings_are_model_errors():
    with pytest.raises(ModelError, match="unknown scale 'cubic'"):
        build_frontend({"kind": "melspec", "scale": "cubic"})
    with pytest.raises(ModelError, match="bad parameters for front end 'mfcc'"):
        build_frontend({"kind": "mfcc", "n_bins": 3})
