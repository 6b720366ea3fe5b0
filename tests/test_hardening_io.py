"""Output files follow the umask; ``--aggregate middle`` decodes only the middle window."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from genrelab import atomic


@pytest.fixture
def umask_002():
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_umask_is_read_without_being_changed(umask_002):
    assert atomic.umask() == 0o002
    assert atomic.umask() == 0o002
    assert atomic.file_mode() == 0o664


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_tables_get_the_umask_mode(tmp_path, umask_002, suffix):
    from genrelab.batch import write_table

    result = {
        "path": "a.wav",
        "genre": "rock",
        "confidence": 0.9,
        "probabilities": {"rock": 0.9, "pop": 0.1},
        "logits": {"rock": -0.1, "pop": -2.3},
    }
    path = write_table(tmp_path / f"out{suffix}", [result], ["rock", "pop"])
    assert _mode(path) == 0o664
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left


def test_pngs_json_and_text_get_the_umask_mode(tmp_path, umask_002):
    from genrelab.evaluation.plots import plot_confusion

    png = plot_confusion([[3, 1], [0, 4]], ["a", "b"], tmp_path / "confusion.png")
    js = atomic.write_json(tmp_path / "metrics.json", {"accuracy": 1.0})
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert {_mode(png), _mode(js)} == {0o664}
    os.umask(0o077)
    assert _mode(atomic.write_text(tmp_path / "private.txt", "x")) == 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = atomic.write_text(tmp_path / "t.txt", "old")
    with pytest.raises(RuntimeError), atomic.atomic_open(target) as fh:
        fh.write("new")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_a_saved_bundle_folder_and_its_files_follow_the_umask(tiny_bundle, tmp_path, umask_002):
    from genrelab.models import load_bundle

    saved = load_bundle(tiny_bundle).save(tmp_path / "copy")
    assert _mode(saved) == 0o775
    assert _mode(saved / "card.json") == 0o664


def _noise(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.2 * rng.standard_normal(round(seconds * sr))).astype(np.float32)


def test_middle_window_at_the_native_rate_equals_cutting_the_decoded_file(write_wav):
    from genrelab.audio import load, middle_window
    from genrelab.audio.windows import read_middle

    path = write_wav("long.wav", _noise(95.3, 22050), 22050)
    y, _ = load(path, sr=22050)
    expected = middle_window(y.size, 22050, 30.0)
    window, samples = read_middle(path, 22050, 30.0)
    assert window == expected
    np.testing.assert_array_equal(samples, y[expected.start : expected.end])

    short = write_wav("short.wav", _noise(12.0, 22050), 22050)
    window, samples = read_middle(short, 22050, 30.0)
    assert (window.start, window.end, samples.size) == (0, 12 * 22050, 12 * 22050)


def test_middle_window_of_a_resampled_file_matches_away_from_its_edges(write_wav):
    from genrelab.audio import load, middle_window
    from genrelab.audio.windows import read_middle

    path = write_wav("hifi.wav", _noise(70.0, 44100, seed=1), 44100)
    y, _ = load(path, sr=22050)
    expected = middle_window(y.size, 22050, 30.0)
    window, samples = read_middle(path, 22050, 30.0)
    assert window == expected
    inner = slice(2000, -2000)  # the resampler restarts at the window's edges
    np.testing.assert_allclose(samples[inner], y[expected.start : expected.end][inner], atol=1e-4)


def test_middle_decodes_only_the_window(write_wav):
    import tracemalloc

    from genrelab.audio import load
    from genrelab.audio.windows import read_middle

    path = write_wav("hour.wav", _noise(600.0, 22050, seed=2), 22050)  # 10 minutes

    def peak(fn) -> int:
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    whole = peak(lambda: load(path, sr=22050))
    middle = peak(lambda: read_middle(path, 22050, 30.0))
    assert whole > 50e6 and middle < whole / 5, (whole, middle)


def test_classify_middle_streams_and_agrees_with_the_in_memory_path(tiny_bundle, write_wav):
    from genrelab import synth
    from genrelab.audio import load
    from genrelab.batch import EngineSpec
    from genrelab.pipeline import Classifier

    y = synth.song(11.0, style="rock", seed=5)
    path = write_wav("song.wav", y, 22050)
    classifier = Classifier(tiny_bundle)
    streamed = classifier.classify(path, aggregate="middle")
    decoded, _ = load(path, sr=22050)
    in_memory = classifier.classify(decoded, 22050, "middle", name=str(path))
    assert [(w.start, w.end) for w in streamed.windows] == [(4.5, 6.5)]
    assert streamed.probabilities == pytest.approx(in_memory.probabilities, abs=1e-4)
    result = EngineSpec((str(tiny_bundle),), "middle").build().classify(path)
    assert [(w["start"], w["end"]) for w in result["windows"]] == [(4.5, 6.5)]
    assert result["genre"] == streamed.genre
