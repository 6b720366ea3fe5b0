"""Whole-track tags come from evenly spread excerpts, streamed, never the whole decoded file."""

from __future__ import annotations

import numpy as np

from genrelab import synth
from genrelab.audio import load
from genrelab.batch import engine


def test_excerpts_that_tile_the_track_give_the_whole_tracks_tags(write_wav):
    path = write_wav("song.wav", synth.song(12.0, sr=16000, style="disco", seed=4), sr=16000)
    y, sr = load(path, sr=16000)
    assert engine.track_tags(path, k=5) == engine.signal_tags(y, sr, k=5)


def test_long_tracks_are_tagged_from_a_bounded_number_of_excerpts(write_wav, monkeypatch):
    path = write_wav("long.wav", synth.song(150.0, sr=16000, style="rock", seed=2), sr=16000)
    seen = []
    monkeypatch.setattr(engine, "signal_tags", lambda y, sr, k: seen.append((y.size, sr)))
    engine.track_tags(path)
    assert seen == [(engine.TAG_EXCERPTS * 3 * 16000, 16000)]
    y, _ = load(path, sr=16000)
    excerpt_starts = np.linspace(0, y.size - 48000, engine.TAG_EXCERPTS).round().astype(int)
    assert excerpt_starts[-1] + 48000 == y.size  # the last excerpt ends with the track
