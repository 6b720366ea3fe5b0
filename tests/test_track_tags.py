"""Whole-track tags come from evenly spread excerpts, streamed, never the whole decoded file."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab import synth
from genrelab.audio import load
from genrelab.batch import engine
from genrelab.pretrained.musicnn_onnx import tag_names


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


def _no_second_pass(*args, **kwargs):
    raise AssertionError("the track was tagged by a second network pass")


def test_the_default_model_tags_tracks_from_its_own_musicnn_rows(write_wav, monkeypatch):
    path = write_wav("song.wav", synth.song(40.0, style="disco", seed=5))
    monkeypatch.setattr(engine, "track_tags", _no_second_pass)
    runner = engine.EngineSpec(tags=True).build()
    result = runner.classify(path)
    windows = [w for _, w in runner.windowing[0].windows(path, "mean")]
    assert len(windows) == 2  # 30 s, then the 10 s tail's end-aligned window
    frontend = runner.members[0].frontend_for(len(windows))  # patches as classify uses them
    rows = frontend(windows, runner.members[0].sr)
    # Mean over windows of each window's mean tag probability over its patches.
    names = tag_names("MSD_musicnn")
    first = frontend.names().index(f"tag_prob:{names[0]}.mean")
    scores = rows[:, first : first + len(names)].mean(axis=0)
    best = np.argsort(-scores, kind="stable")[:5]
    assert [t for t, _ in result["tags"]] == [names[i] for i in best]
    assert [s for _, s in result["tags"]] == [round(float(scores[i]), 4) for i in best]


def test_a_model_without_musicnn_rows_tags_from_streamed_excerpts(write_wav, tiny_bundle):
    path = write_wav("song.wav", synth.song(6.0, style="rock", seed=6))
    result = engine.EngineSpec((str(tiny_bundle),), tags=True).build().classify(path)
    assert result["tags"] == engine.track_tags(path)


def test_the_library_the_api_and_the_cli_give_the_same_tags(write_wav, tiny_bundle):
    from genrelab.pipeline import Classifier

    path = write_wav("song.wav", synth.song(35.0, style="rock", seed=7))
    classifier = Classifier()
    from_file = classifier.classify_file(path)
    y, sr = load(path, sr=classifier.sr)
    from_signal = classifier.classify_signal(y, sr)  # what the web API calls
    from_engine = engine.EngineSpec(tags=True).build().classify(path)  # what the CLI calls
    assert from_file.tags is not None and len(from_file.tags) == 5
    assert from_file.tags == from_signal.tags
    assert [list(t) for t in from_file.tags] == from_engine["tags"]
    assert Classifier(tiny_bundle).classify_file(path).tags is None  # no musicnn rows


def test_one_confident_window_is_not_averaged_away_in_log_odds():
    """The issue's song: its last window is clearly hip-hop, the three before it are not."""
    from genrelab.pretrained.embeddings import MusicnnEmbedder, logit

    frontend = MusicnnEmbedder(layer=None, tags=True, tag_logits=True)
    names = tag_names("MSD_musicnn")
    probabilities = np.full((4, len(names)), 0.01)
    probabilities[:, names.index("rock")] = 0.09
    probabilities[3, names.index("Hip-Hop")] = 0.98
    tags = dict(frontend.track_tags(logit(probabilities), k=3))
    assert next(iter(tags)) == "Hip-Hop"
    assert tags["Hip-Hop"] == pytest.approx((0.98 + 3 * 0.01) / 4, abs=1e-4)
    assert tags["rock"] == pytest.approx(0.09, abs=1e-4)


def test_classify_tags_equal_genrelab_tags_per_window_on_a_medley(write_wav, capsys):
    """A 30 s medley is one window: classify hears all its patches, as ``tags --segment 30``."""
    import json

    from genrelab.cli import main

    medley = np.concatenate(
        [synth.song(10.0, style=s, seed=i) for i, s in enumerate(("rock", "classical", "disco"))]
    )
    path = write_wav("medley.wav", medley)

    def cli(argv):
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in argv])
        assert exit_info.value.code in (0, None)
        return json.loads(capsys.readouterr().out)

    [classified] = cli(["classify", path, "--json"])
    [tagged] = cli(["tags", path, "--json", "--top", "5", "--segment", "30"])
    assert len(classified["windows"]) == 1 and len(tagged["segments"]) == 1
    assert [t for t, _ in classified["tags"]] == [t for t, _ in tagged["tags"]]
    for (_, mine), (_, theirs) in zip(classified["tags"], tagged["tags"], strict=True):
        assert mine == pytest.approx(theirs, abs=1e-4)
