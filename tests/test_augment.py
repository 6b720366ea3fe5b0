"""Augmentations move the signal the requested way and by the requested amount."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile as sf

from genrelab import synth
from genrelab.augment import WAVE_NAMES, build_one, parse_augmentations
from genrelab.cli import main
from genrelab.errors import GenrelabError

SR = 22050


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def centroid(y: np.ndarray) -> float:
    return float(librosa.feature.spectral_centroid(y=y, sr=SR).mean())


def peak_hz(y: np.ndarray) -> float:
    """Frequency of the strongest component, to a fraction of a hertz (zero-padded FFT)."""
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size), 8 * y.size))
    return float(np.fft.rfftfreq(8 * y.size, 1 / SR)[np.argmax(spectrum)])


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return synth.noise(2.0, SR, 0.3, seed=1)


@pytest.mark.parametrize(
    ("spec", "lower"),
    [
        ("lowpass:cutoff_hz=1500", True),
        ("highpass:cutoff_hz=4000", False),
        ("bandpass:center_hz=500:octaves=1", True),
    ],
)
def test_filters_move_the_spectral_centroid_the_right_way(noise, spec, lower):
    before, after = centroid(noise), centroid(build_one(spec)(noise, SR, rng()))
    assert (after < 0.5 * before) if lower else (after > 1.2 * before)


def test_band_stop_removes_the_band_and_keeps_the_rest(noise):
    out = build_one("bandstop:center_hz=2000:octaves=1")(noise, SR, rng())
    spec_in, spec_out = np.abs(np.fft.rfft(noise)), np.abs(np.fft.rfft(out))
    freqs = np.fft.rfftfreq(noise.size, 1 / SR)
    in_band = (freqs > 1600) & (freqs < 2500)
    outside = (freqs > 6000) & (freqs < 9000)
    assert spec_out[in_band].mean() < 0.1 * spec_in[in_band].mean()
    assert spec_out[outside].mean() == pytest.approx(spec_in[outside].mean(), rel=0.05)


@pytest.mark.parametrize("semitones", [-3.0, -1.0, 1.5, 4.0])
def test_pitch_shift_moves_a_sine_by_the_requested_semitones(semitones):
    tone = synth.tone(440.0, 2.0, SR)
    out = build_one(f"pitch_shift:semitones={semitones}")(tone, SR, rng())
    assert out.size == tone.size
    moved = 12 * np.log2(peak_hz(out[SR // 4 : -SR // 4]) / 440.0)
    assert moved == pytest.approx(semitones, abs=0.25)


@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
@pytest.mark.parametrize("snr", [0.0, 12.0, 30.0])
def test_noise_lands_at_the_requested_snr(colour, snr):
    song = synth.song(2.0, SR, style="rock")
    out = build_one(f"noise:snr_db={snr}:colour={colour}")(song, SR, rng())
    added = out.astype(np.float64) - song
    measured = 10 * np.log10(np.mean(song.astype(np.float64) ** 2) / np.mean(added**2))
    assert measured == pytest.approx(snr, abs=0.5)


@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_tempo_changes_duration_by_the_requested_factor(rate):
    clip = synth.drums(2.0, SR)
    out = build_one(f"tempo:rate={rate}")(clip, SR, rng())
    assert out.size / clip.size == pytest.approx(1 / rate, rel=0.01)
    assert parse_augmentations([f"tempo:rate=0.9..{rate}"]).context == max(1.0, rate)


def test_gain_echo_and_reverb_change_level_and_add_a_tail():
    click = np.zeros(SR, dtype=np.float32)
    click[100] = 1.0
    assert np.max(build_one("gain:db=-6")(click, SR, rng())) == pytest.approx(0.501, abs=0.001)
    echoed = build_one("echo:delay_s=0.25:feedback=0:mix=0.5")(click, SR, rng())
    assert abs(echoed[100 + SR // 4]) > 0.1  # the repeat arrives 250 ms later
    reverbed = build_one("reverb:room_size=0.8:wet=0.5")(click, SR, rng())
    assert np.abs(reverbed[SR // 10 :]).sum() > 1.0  # energy spread after the click


def test_probability_zero_never_fires_and_chains_are_reproducible(noise):
    assert build_one("noise:p=0")(noise, SR, rng()) is noise
    chain = parse_augmentations(["bundle:count=2..3", "gain"]).wave
    first, again, other = (chain(noise, SR, rng(s)) for s in (5, 5, 6))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.size == noise.size and first.dtype == np.float32


def test_every_audio_augmentation_keeps_a_finite_float32_signal(noise):
    for name in WAVE_NAMES:
        out = build_one(name)(noise, SR, rng())
        assert out.dtype == np.float32 and np.isfinite(out).all(), name


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("wobble", "unknown augmentation 'wobble'"),
        ("noise:snr=3", "bad setting 'snr=3'"),
        ("noise:snr_db=ten", "bad value 'ten' for snr_db"),
    ],
)
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(GenrelabError, match=message):
        parse_augmentations([spec])


def test_specaugment_masks_bands_and_frames_and_mixup_blends_targets():
    torch = pytest.importorskip("torch")
    x = torch.ones(4, 20, 30)
    targets = torch.eye(4)[:, :3].clone()
    masked, same = build_one("specaugment:freq_masks=1:max_freq=0.2:time_masks=1:max_time=0.2")(
        x, targets, torch.Generator().manual_seed(0)
    )
    assert same is targets
    zeros = masked == 0
    assert zeros.any() and not zeros.all()
    assert zeros.all(dim=2).sum(dim=1).max() <= 4 and zeros.all(dim=1).sum(dim=1).max() <= 6
    mixed_x, mixed_t = build_one("mixup:alpha=0.4")(
        torch.arange(4.0)[:, None], torch.eye(4), torch.Generator().manual_seed(0)
    )
    np.testing.assert_allclose(mixed_t.sum(dim=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(mixed_x[:, 0], mixed_t @ torch.arange(4.0), atol=1e-5)
    with pytest.raises(GenrelabError, match="needs spectrogram inputs"):
        build_one("specaugment")(torch.ones(2, 100), targets[:2], torch.Generator())


def test_augment_preview_writes_each_variant_and_one_figure(write_wav, tmp_path, capsys):
    clip = write_wav("song.wav", synth.song(3.0, SR, style="disco"))
    with pytest.raises(SystemExit) as done:
        main(
            [
                "augment-preview",
                str(clip),
                "-o",
                str(tmp_path / "p"),
                "--augment",
                "lowpass",
                "--augment",
                "tempo:rate=1.25",
                "--augment",
                "specaugment",
            ]
        )
    assert done.value.code == 0
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert names == ["00-original.wav", "01-lowpass.wav", "02-tempo_rate=1.25.wav", "preview.png"]
    tempo = sf.read(tmp_path / "p" / "02-tempo_rate=1.25.wav")[0]
    assert tempo.size == pytest.approx(3.0 * SR / 1.25, rel=0.01)


def test_preview_titles_name_the_drawn_settings():
    from genrelab.augment.preview import _Recorder, drawn_settings

    y = synth.song(1.0, SR, style="rock", seed=1)
    gain = build_one("gain:db=-6..6")
    recorder = _Recorder(np.random.default_rng(3))
    z = gain(y, SR, recorder)
    shown = drawn_settings(gain, recorder)
    db = 20 * np.log10(np.abs(z).max() / np.abs(y).max())
    assert shown == f"db={db:.3g}"  # the gain actually applied
    lowpass = build_one("lowpass:cutoff_hz=1000..6000")
    recorder = _Recorder(np.random.default_rng(3))
    lowpass(y, SR, recorder)
    cutoff = float(drawn_settings(lowpass, recorder).removeprefix("cutoff_hz="))
    assert 1000 <= cutoff <= 6000  # drawn log-uniformly, shown in Hz
    off = build_one("gain:p=0")
    recorder = _Recorder(np.random.default_rng(3))
    off(y, SR, recorder)
    assert drawn_settings(off, recorder) == "not applied (p=0)"
