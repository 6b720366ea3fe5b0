"""Whole-track tags come from evenly spread excerpts, streamed, never the whole decoded file."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab import synth
from genrelab.audio import load
from genrelab.batch import EngineSpec
from genrelab.pipeline import tags
from genrelab.pretrained.musicnn_onnx import tag_names


def test_excerpts_that_tile_the_track_give_the_whole_tracks_tags(write_wav):
    path = write_wav("song.wav", synth.song(12.0, sr=16000, style="disco", seed=4), sr=16000)
    y, sr = load(path, sr=16000)
    assert tags.tags_of(path, k=5) == tags.tags_of(y, sr, k=5)


def test_long_tracks_are_tagged_from_a_bounded_number_of_excerpts(write_wav, monkeypatch):
    from genrelab.pretrained import tagging

    path = write_wav("long.wav", synth.song(150.0, sr=16000, style="rock", seed=2), sr=16000)
    seen = []
    monkeypatch.setattr(tagging, "top_tags", lambda y, sr, k: seen.append((y.size, sr)) or [])
    tags.tags_of(path)
    assert seen == [(tags.TAG_EXCERPTS * 3 * 16000, 16000)]
    y, _ = load(path, sr=16000)
    starts = tags.excerpt_starts(y.size)
    assert len(starts) == tags.TAG_EXCERPTS
    assert starts[-1] + 48000 == y.size  # the last excerpt ends with the track


def _no_second_pass(*args, **kwargs):
    raise AssertionError("the track was tagged by a second network pass")


def test_the_default_model_tags_tracks_from_its_own_musicnn_rows(write_wav, monkeypatch):
    path = write_wav("song.wav", synth.song(40.0, style="disco", seed=5))
    monkeypatch.setattr(tags, "tags_of", _no_second_pass)
    runner = EngineSpec(tags=True).build()
    result = runner.classify(path)
    pipeline = runner.pipelines[0]
    windows = [w for _, w in pipeline.windowing.windows(path, "mean")]
    assert len(windows) == 2  # 30 s, then the 10 s tail's end-aligned window
    frontend = pipeline.frontend_for(len(windows))  # patches as classify uses them
    rows = frontend(windows, pipeline.sr)
    # Mean over windows of each window's mean tag probability over its patches.
    names = tag_names("MSD_musicnn")
    first = frontend.names().index(f"tag_prob:{names[0]}.mean")
    scores = rows[:, first : first + len(names)].mean(axis=0)
    best = np.argsort(-scores, kind="stable")[:5]
    assert [t["tag"] for t in result["tags"]] == [names[i] for i in best]
    assert [t["score"] for t in result["tags"]] == [round(float(scores[i]), 4) for i in best]


def test_a_model_without_musicnn_rows_tags_from_streamed_excerpts(write_wav, tiny_bundle):
    path = write_wav("song.wav", synth.song(6.0, style="rock", seed=6))
    result = EngineSpec((str(tiny_bundle),), tags=True).build().classify(path)
    assert [(t["tag"], t["score"]) for t in result["tags"]] == tags.tags_of(path)


def test_the_library_the_api_and_the_cli_give_the_same_tags(write_wav, tiny_bundle):
    from genrelab.pipeline import Classifier

    path = write_wav("song.wav", synth.song(35.0, style="rock", seed=7))
    classifier = Classifier()
    from_file = classifier.classify(path)
    y, sr = load(path, sr=classifier.sr)
    from_signal = classifier.classify(y, sr)  # what the web API calls
    from_engine = EngineSpec(tags=True).build().classify(path)  # what the CLI calls
    assert from_file.tags is not None and len(from_file.tags) == 5
    assert from_file.tags == from_signal.tags
    assert [{"tag": t, "score": s} for t, s in from_file.tags] == from_engine["tags"]
    assert Classifier(tiny_bundle).classify(path).tags is None  # no musicnn rows


def test_one_confident_window_is_not_averaged_away_in_log_odds():
    """The issue's song: its last window is clearly hip-hop, the three before it are not."""
    from genrelab.pretrained.embeddings import MusicnnEmbedder, logit

    frontend = MusicnnEmbedder(layer=None, tags=True, tag_logits=True)
    names = tag_names("MSD_musicnn")
    probabilities = np.full((4, len(names)), 0.01)
    probabilities[:, names.index("rock")] = 0.09
    probabilities[3, names.index("Hip-Hop")] = 0.98
    top = dict(frontend.track_tags(logit(probabilities), k=3))
    assert next(iter(top)) == "Hip-Hop"
    assert top["Hip-Hop"] == pytest.approx((0.98 + 3 * 0.01) / 4, abs=1e-4)
    assert top["rock"] == pytest.approx(0.09, abs=1e-4)


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
    assert [t["tag"] for t in classified["tags"]] == [t for t, _ in tagged["tags"]]
    for mine, (_, theirs) in zip(classified["tags"], tagged["tags"], strict=True):
        assert mine["score"] == pytest.approx(theirs, abs=1e-4)
