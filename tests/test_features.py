"""Feature sets, window extraction and the feature cache, on short synthetic audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrelab import synth
from genrelab.errors import AudioError, ModelError
from genrelab.features import (
    FEATURE_SETS,
    GTZAN_FEATURE_NAMES,
    FeatureCache,
    FeatureSet,
    available_feature_sets,
    extract_dataset,
    get_feature_set,
    gtzan_features,
    register_feature_set,
    window_features,
)
from genrelab.features import extract as extract_module
from genrelab.features.cache import default_cache_dir
from genrelab.features.extended import EXTENDED_FEATURE_NAMES, EXTENDED_GROUPS, extended_features

SR = 22050
PITCHES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def gtzan(y: np.ndarray) -> dict[str, float]:
    return dict(zip(GTZAN_FEATURE_NAMES, window_features(y, SR)[0], strict=True))


def extended(y: np.ndarray) -> dict[str, float]:
    return dict(zip(EXTENDED_FEATURE_NAMES, extended_features(y, SR), strict=True))


def triad(semitones: tuple[int, ...], seconds: float = 3.0) -> np.ndarray:
    return sum(synth.tone(261.63 * 2 ** (s / 12), seconds, SR, amp=0.3) for s in semitones)


def top_pitches(features: dict[str, float], kind: str, k: int = 3) -> set[str]:
    means = {p: features[f"{kind}_{p}_mean"] for p in PITCHES}
    return set(sorted(means, key=means.get)[-k:])


def counting_set(calls: list[int]) -> FeatureSet:
    """A cheap set whose values reveal each window's length and first sample."""

    def fn(y: np.ndarray, sr: int) -> np.ndarray:
        calls.append(len(y))
        return np.array([len(y), y[0], np.sqrt(np.mean(y**2))])

    return FeatureSet("counting", ("n_samples", "first", "rms"), fn, "test probe")


@pytest.fixture
def registry():
    """Let a test register sets without leaking them into the others."""
    saved = dict(FEATURE_SETS)
    yield FEATURE_SETS
    FEATURE_SETS.clear()
    FEATURE_SETS.update(saved)


# --- feature sets -------------------------------------------------------------------------


@pytest.mark.parametrize("name", available_feature_sets())
def test_every_set_returns_one_finite_value_per_name(name: str) -> None:
    fs = get_feature_set(name)
    values = window_features(synth.song(3.0, SR, style="disco", seed=2), SR, name)
    assert values.shape == (1, len(fs.names))
    assert len(set(fs.names)) == len(fs.names)
    assert np.isfinite(values).all()


def test_gtzan57_is_the_kaggle_layout() -> None:
    fs = get_feature_set("gtzan57")
    assert len(fs.names) == 57
    assert fs.names[:2] == ("chroma_stft_mean", "chroma_stft_var")
    assert fs.names[16] == "tempo"
    assert fs.names[-1] == "mfcc20_var"


def test_extended_set_is_gtzan57_plus_the_extended_groups() -> None:
    y = synth.song(3.0, SR, style="rock", seed=3)
    fs = get_feature_set("extended")
    assert fs.names == GTZAN_FEATURE_NAMES + EXTENDED_FEATURE_NAMES
    values = fs.fn(y, SR)
    np.testing.assert_array_equal(values[:57], get_feature_set("gtzan57").fn(y, SR))
    np.testing.assert_array_equal(values[57:], extended_features(y, SR))


def test_shared_intermediates_match_standalone_group_calls() -> None:
    y = synth.song(3.0, SR, style="ambient", seed=4)
    parts = []
    for group, (names, fn) in EXTENDED_GROUPS.items():
        values = fn(y, SR)
        assert values.shape == (len(names),), group
        parts.append(values)
    np.testing.assert_allclose(extended_features(y, SR), np.concatenate(parts), rtol=1e-6)


def test_features_are_deterministic() -> None:
    y = synth.song(3.0, SR, style="rock", seed=5)
    np.testing.assert_array_equal(window_features(y, SR), window_features(y.copy(), SR))


def test_unknown_set_name_lists_the_known_ones() -> None:
    with pytest.raises(ModelError, match=r"unknown feature set 'mfcc99'.*extended, gtzan57"):
        get_feature_set("mfcc99")
    with pytest.raises(ModelError, match="unknown feature set"):
        window_features(np.zeros(SR, np.float32), SR, "mfcc99")


def test_register_feature_set_refuses_silent_replacement(registry) -> None:
    probe = counting_set([])
    assert register_feature_set(probe) is probe
    assert get_feature_set("counting") is probe
    with pytest.raises(ModelError, match="already registered"):
        register_feature_set(FeatureSet("counting", ("a",), probe.fn))
    other = register_feature_set(FeatureSet("counting", ("a", "b", "c"), probe.fn), replace=True)
    assert get_feature_set("counting") is other


@pytest.mark.parametrize(
    ("name", "names", "message"),
    [("bad/name", ("a",), "invalid feature set name"), ("ok", ("a", "a"), "unique, non-empty")],
)
def test_feature_set_rejects_bad_definitions(
    name: str, names: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ModelError, match=message):
        FeatureSet(name, names, gtzan_features)


# --- what the numbers mean ----------------------------------------------------------------


def test_sine_centroid_is_its_frequency() -> None:
    assert gtzan(synth.tone(1000, 2.0, SR))["spectral_centroid_mean"] == pytest.approx(
        1000, rel=0.02
    )


def test_louder_signal_has_proportionally_larger_rms() -> None:
    quiet = gtzan(synth.tone(440, 2.0, SR, amp=0.1))["rms_mean"]
    loud = gtzan(synth.tone(440, 2.0, SR, amp=0.5))["rms_mean"]
    assert loud == pytest.approx(5 * quiet, rel=1e-3)
    assert loud == pytest.approx(0.5 / np.sqrt(2), rel=1e-2)


def test_white_noise_crosses_zero_far_more_than_a_low_tone() -> None:
    noise = gtzan(synth.noise(2.0, SR, amp=0.3))["zero_crossing_rate_mean"]
    low = gtzan(synth.tone(100, 2.0, SR))["zero_crossing_rate_mean"]
    assert noise == pytest.approx(0.5, abs=0.05)  # independent samples change sign half the time
    assert low == pytest.approx(2 * 100 / SR, rel=0.05)


@pytest.mark.parametrize("bpm", [100, 120])
def test_drum_pattern_tempo(bpm: float) -> None:
    # librosa's tempo comes from a lag grid of 512-sample frames: 117.5 bpm is its nearest to 120.
    assert gtzan(synth.drums(6.0, SR, bpm=bpm))["tempo"] == pytest.approx(bpm, rel=0.03)


def test_silence_gives_finite_features() -> None:
    values = window_features(np.zeros(2 * SR, np.float32), SR, "extended")
    assert np.isfinite(values).all()


@pytest.mark.parametrize(
    ("semitones", "pitches"), [((0, 4, 7), {"C", "E", "G"}), ((0, 3, 7), {"C", "D#", "G"})]
)
def test_chroma_finds_the_chord_notes(semitones: tuple[int, ...], pitches: set[str]) -> None:
    features = extended(triad(semitones))
    assert top_pitches(features, "chroma_cqt") == pitches
    assert top_pitches(features, "chroma_cens") == pitches


def test_tonnetz_separates_chords_and_ignores_noise() -> None:
    def centroid(y: np.ndarray) -> np.ndarray:
        f = extended(y)
        return np.array([v for k, v in f.items() if k.startswith("tonnetz") and k.endswith("mean")])

    major, minor = centroid(triad((0, 4, 7))), centroid(triad((0, 3, 7)))
    noise = centroid(synth.noise(3.0, SR, amp=0.3))
    assert np.linalg.norm(noise) < 0.05  # a flat chroma sits at the tonnetz origin
    assert np.linalg.norm(major) > 0.5 and np.linalg.norm(minor) > 0.5
    assert np.linalg.norm(major - minor) > 0.3


def test_flatness_tells_noise_from_a_tone() -> None:
    assert extended(synth.noise(2.0, SR))["spectral_flatness_mean"] > 0.3
    assert extended(synth.tone(440, 2.0, SR))["spectral_flatness_mean"] < 1e-3


# --- windows ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "window_s", "hop_s", "lengths"),
    [
        (10.0, None, None, [10 * SR]),
        (10.0, 3.0, None, [3 * SR] * 3),
        (10.0, 3.0, 1.5, [3 * SR] * 5),
        (30.0, 3.0, 3.0, [3 * SR] * 10),  # the Kaggle 3-second table
        (2.0, 3.0, None, [2 * SR]),  # shorter than a window: one row for all of it
    ],
)
def test_window_counts(
    seconds: float, window_s: float | None, hop_s: float | None, lengths: list[int]
) -> None:
    calls: list[int] = []
    y = np.arange(round(seconds * SR), dtype=np.float32)
    values = window_features(y, SR, counting_set(calls), window_s, hop_s)
    assert calls == lengths
    assert values[:, 0].tolist() == lengths
    step = round((hop_s or window_s or 0) * SR)
    assert values[:, 1].tolist() == [i * step for i in range(len(lengths))]


def test_windowed_rows_are_features_of_each_window() -> None:
    y = synth.song(6.0, SR, style="disco", seed=6)
    rows = window_features(y, SR, "gtzan57", window_s=3.0)
    per_window = get_feature_set("gtzan57").fn
    np.testing.assert_array_equal(
        rows, np.stack([per_window(y[:66150], SR), per_window(y[66150:], SR)])
    )


@pytest.mark.parametrize(
    ("y", "kwargs", "error", "message"),
    [
        (np.zeros(SR), {"window_s": 0.0}, ModelError, "window_s must be a positive"),
        (np.zeros(SR), {"window_s": 1.0, "hop_s": -1.0}, ModelError, "hop_s must be a positive"),
        (np.zeros(SR), {"hop_s": 1.0}, ModelError, "hop_s needs window_s"),
        (np.zeros((2, SR)), {}, AudioError, "mono"),
        (np.zeros(0), {}, AudioError, "empty"),
        (np.full(SR, np.nan), {}, AudioError, "NaN"),
    ],
)
def test_bad_input_is_a_one_line_error(
    y: np.ndarray, kwargs: dict, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        window_features(y, SR, counting_set([]), **kwargs)


def test_set_returning_the_wrong_length_is_caught() -> None:
    broken = FeatureSet("broken", ("a", "b"), lambda y, sr: np.zeros(3))
    with pytest.raises(ModelError, match=r"returned \(3,\) values, expected \(2,\)"):
        window_features(np.zeros(SR), SR, broken)


# --- datasets and the cache ---------------------------------------------------------------


@pytest.fixture
def clips(write_wav) -> list[Path]:
    return [write_wav(f"clip{i}.wav", synth.song(2.0, SR, style="disco", seed=i)) for i in range(3)]


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Every audio decode that extract_dataset does, by path."""
    seen: list[str] = []
    real = extract_module.load

    def counting_load(path, sr=None):
        seen.append(str(path))
        return real(path, sr=sr)

    monkeypatch.setattr(extract_module, "load", counting_load)
    return seen


def test_extract_dataset_matches_window_features(clips: list[Path]) -> None:
    per_file, errors = extract_dataset(clips[:1], "gtzan57", window_s=1.0, progress=False)
    assert errors == []
    y, sr = sf.read(clips[0], dtype="float32")
    assert per_file[0].shape == (2, 57)
    np.testing.assert_array_equal(per_file[0], window_features(y, sr, "gtzan57", window_s=1.0))


def test_second_pass_over_a_cached_dataset_does_no_audio_work(
    clips: list[Path], tmp_path: Path, loads: list[str]
) -> None:
    calls: list[int] = []
    fs = counting_set(calls)
    first, _ = extract_dataset(
        clips, fs, window_s=1.0, cache=FeatureCache(tmp_path / "c"), progress=False
    )
    assert len(loads) == 3 and len(calls) == 6
    loads.clear()
    calls.clear()
    second, errors = extract_dataset(
        clips, fs, 1.0, cache=FeatureCache(tmp_path / "c"), progress=False
    )
    assert loads == [] and calls == [] and errors == []
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not list((tmp_path / "c").rglob("*.tmp"))  # atomic writes leave no temp files


def test_changed_parameters_or_content_miss_the_cache(
    clips: list[Path], tmp_path: Path, loads: list[str], write_wav
) -> None:
    cache = FeatureCache(tmp_path / "c")
    fs = counting_set([])
    first, _ = extract_dataset(clips, fs, window_s=1.0, cache=cache, progress=False)
    loads.clear()
    extract_dataset(clips, fs, window_s=1.0, hop_s=1.0, cache=cache, progress=False)
    assert loads == []  # an explicit hop equal to the window is the same extraction
    extract_dataset(clips, fs, window_s=0.5, cache=cache, progress=False)
    assert len(loads) == 3
    loads.clear()
    extract_dataset(clips, fs, window_s=1.0, sr=16000, cache=cache, progress=False)
    assert len(loads) == 3
    loads.clear()
    write_wav("clip1.wav", synth.song(2.0, SR, style="rock", seed=9))
    per_file, _ = extract_dataset(
        clips, fs, window_s=1.0, cache=FeatureCache(tmp_path / "c"), progress=False
    )
    assert loads == [str(clips[1])]
    assert per_file[1][0, 2] != pytest.approx(first[1][0, 2])
    np.testing.assert_array_equal(per_file[0], first[0])


def test_same_content_elsewhere_hits_and_a_new_set_version_misses(
    clips: list[Path], tmp_path: Path, loads: list[str]
) -> None:
    cache = FeatureCache(tmp_path / "c")
    fs = counting_set([])
    extract_dataset(clips[:1], fs, cache=cache, progress=False)
    moved = tmp_path / "moved" / "renamed.wav"
    moved.parent.mkdir()
    moved.write_bytes(clips[0].read_bytes())
    loads.clear()
    extract_dataset([moved], fs, cache=cache, progress=False)
    assert loads == []
    bumped = FeatureSet(fs.name, fs.names, fs.fn, version="2")
    extract_dataset([moved], bumped, cache=cache, progress=False)
    assert loads == [str(moved)]


def test_corrupt_cache_entry_is_recomputed(
    clips: list[Path], tmp_path: Path, loads: list[str]
) -> None:
    cache = FeatureCache(tmp_path / "c")
    fs = counting_set([])
    (good,), _ = extract_dataset(clips[:1], fs, cache=cache, progress=False)
    (entry,) = (tmp_path / "c" / "counting").rglob("*.npy")
    entry.write_bytes(b"not numpy")
    loads.clear()
    (again,), errors = extract_dataset(clips[:1], fs, cache=cache, progress=False)
    assert errors == [] and len(loads) == 1
    np.testing.assert_array_equal(again, good)
    np.testing.assert_array_equal(np.load(entry), good)


def test_cache_clear(clips: list[Path], tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path / "c")
    fs = counting_set([])
    extract_dataset(clips, fs, cache=cache, progress=False)
    key = cache.key(clips[0], fs, sr=SR, window_s=None, hop_s=None)
    assert cache.load(fs, key) is not None
    cache.clear(fs)
    assert cache.load(fs, key) is None


def test_broken_files_are_reported_and_skipped(clips: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF this is not audio" * 10)
    missing = tmp_path / "missing.wav"
    paths = [clips[0], broken, missing, clips[1]]
    per_file, errors = extract_dataset(paths, counting_set([]), cache=FeatureCache(tmp_path / "c"))
    assert [p is None for p in per_file] == [False, True, True, False]
    assert [path for path, _ in errors] == [str(broken), str(missing)]
    assert all(message and "\n" not in message for _, message in errors)
    assert "missing.wav" in errors[1][1]


def test_parallel_extraction_matches_serial(clips: list[Path]) -> None:
    def probe(y: np.ndarray, sr: int) -> np.ndarray:
        return np.array([len(y), float(np.mean(np.abs(y)))])

    fs = FeatureSet("probe", ("n", "mean_abs"), probe)
    serial, _ = extract_dataset(clips, fs, window_s=0.5, progress=False)
    parallel, errors = extract_dataset(clips, fs, window_s=0.5, n_jobs=2, progress=False)
    assert errors == []
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_jobs": 0}, "n_jobs"),
        ({"sr": 0}, "sr must be"),
        ({"feature_set": "nope"}, "unknown feature set"),
    ],
)
def test_extract_dataset_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        extract_dataset([], **kwargs)


def test_default_cache_dir(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path / "g"))
    assert default_cache_dir() == tmp_path / "g" / "features"
    monkeypatch.delenv("GENRELAB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "genrelab" / "features"
    assert FeatureCache().root == default_cache_dir()
