"""genrelab.audio.windows: window maths on sample counts and streamed windows of a file."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrelab import synth
from genrelab.audio import (
    Window,
    fixed_windows,
    iter_windows,
    load,
    middle_window,
    random_windows,
)
from genrelab.errors import AudioError
from genrelab.pipeline import Windowing


def _spans(windows: list[Window]) -> list[tuple[int, int]]:
    return [(w.start, w.end) for w in windows]


def test_fixed_windows_hop_count_and_dropped_remainder() -> None:
    windows = fixed_windows(1050, 100, 3.0, 1.0)  # 10.5 s, 3 s windows every 1 s

    assert _spans(windows) == [(s, s + 300) for s in range(0, 701, 100)]
    assert (windows[-1].start_s, windows[-1].end_s) == (7.0, 10.0)


def test_fixed_windows_default_hop_is_back_to_back() -> None:
    assert _spans(fixed_windows(1000, 100, 3.0)) == [(0, 300), (300, 600), (600, 900)]


@pytest.mark.parametrize(("min_last_s", "added"), [(0.5, True), (0.6, False), (0.0, True)])
def test_min_last_s_adds_one_window_ending_at_the_end(min_last_s: float, added: bool) -> None:
    windows = fixed_windows(1050, 100, 3.0, 1.0, min_last_s=min_last_s)  # 0.5 s uncovered

    assert len(windows) == (9 if added else 8)
    assert (windows[-1].start, windows[-1].end) == ((750, 1050) if added else (700, 1000))


def test_fixed_windows_edges() -> None:
    assert _spans(fixed_windows(150, 100, 3.0)) == [(0, 150)]  # shorter: one partial window
    assert _spans(fixed_windows(300, 100, 3.0)) == [(0, 300)]
    assert fixed_windows(0, 100, 3.0) == []
    assert len(fixed_windows(900, 100, 3.0, min_last_s=0.0)) == 3  # exact fit: nothing uncovered
    assert _spans(fixed_windows(1000, 100, 2.0, 4.0)) == [(0, 200), (400, 600), (800, 1000)]


@pytest.mark.parametrize(("length", "hop"), [(0.0, None), (3.0, 0.0), (3.0, -1.0)])
def test_fixed_windows_rejects_non_positive_sizes(length: float, hop: float | None) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        fixed_windows(1000, 100, length, hop)


def test_check_length_names_the_audio_and_both_lengths() -> None:
    n = round(1.2 * 22050)

    Windowing(22050, 3.0, min_s=1.0).check_length(n, "short.wav")
    with pytest.raises(
        AudioError, match=r"short\.wav is 1\.2 s long; this model needs at least 3\.0 s"
    ):
        Windowing(22050, 3.0, min_s=3.0).check_length(n, "short.wav")


def test_window_take_slices_the_time_axis() -> None:
    y = np.arange(20).reshape(2, 10)
    w = Window(3, 7, 10)

    np.testing.assert_array_equal(w.take(y), y[:, 3:7])
    assert (w.length, w.start_s, w.end_s) == (4, 0.3, 0.7)


def test_middle_window_is_centred_or_whole() -> None:
    assert middle_window(1000, 100, 3.0) == Window(350, 650, 100)
    assert middle_window(1001, 100, 3.0) == Window(350, 650, 100)
    assert middle_window(200, 100, 3.0) == Window(0, 200, 100)


def test_random_windows_are_reproducible_in_bounds_and_sorted() -> None:
    a = random_windows(10_000, 100, 3.0, 20, seed=7)

    assert a == random_windows(10_000, 100, 3.0, 20, seed=7)
    assert a != random_windows(10_000, 100, 3.0, 20, seed=8)
    assert len(a) == 20 and all(w.length == 300 and 0 <= w.start <= 9_700 for w in a)
    assert [w.start for w in a] == sorted(w.start for w in a)
    assert random_windows(200, 100, 3.0, 5, seed=0) == [Window(0, 200, 100)]
    assert random_windows(10_000, 100, 3.0, 0, seed=0) == []


@pytest.fixture
def stereo_file(tmp_path: Path) -> Path:
    """9.77 s of stereo music at 44.1 kHz: not a whole number of windows, hops or blocks."""
    y = np.stack([synth.song(9.77, 44100, "rock", 3), synth.song(9.77, 44100, "disco", 4)])
    path = tmp_path / "song.wav"
    sf.write(path, y.T, 44100)
    return path


@pytest.mark.parametrize(
    ("sr", "length", "hop", "min_last", "block", "mono"),
    [
        (22050, 2.0, 0.75, 0.1, 0.9, True),  # resampled, overlapping, end-aligned last window
        (None, 3.0, None, None, 0.5, False),  # native rate, stereo, blocks smaller than windows
        (22050, 1.0, 2.5, None, 60.0, True),  # gaps between windows, one block for everything
        (22050, 12.0, None, None, 1.0, True),  # file shorter than a window
    ],
)
def test_iter_windows_equals_slicing_the_loaded_signal(
    stereo_file: Path,
    sr: int | None,
    length: float,
    hop: float | None,
    min_last: float | None,
    block: float,
    mono: bool,
) -> None:
    y, rate = load(stereo_file, sr=sr, mono=mono)
    expected = fixed_windows(y.shape[-1], rate, length, hop, min_last_s=min_last)

    got = list(
        iter_windows(
            stereo_file, sr, length, hop, min_last_s=min_last, mono=mono, block_seconds=block
        )
    )

    assert [w for w, _ in got] == expected
    for w, x in got:
        np.testing.assert_allclose(x, w.take(y), atol=1e-6)


def test_iter_windows_holds_about_one_window_and_one_block(tmp_path: Path) -> None:
    path = tmp_path / "three_minutes.wav"
    sf.write(path, synth.noise(180.0, 22050, 0.3, seed=0), 22050)
    full_size = 180 * 22050 * 4

    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_windows(path, None, 3.0, 1.5, block_seconds=5.0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == 119
    assert peak < 0.2 * full_size  # a few 5 s blocks (decode, downmix, join): 3% of it each


def test_iter_windows_reports_bad_files_eagerly(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"missing\.wav"):
        iter_windows(tmp_path / "missing.wav", 22050, 3.0)
