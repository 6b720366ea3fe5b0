"""``--aggregate random:N[:SEED]``: a majority vote over N seeded random windows of a song."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genrelab import synth
from genrelab.aggregate import Aggregation, aggregate, parse_aggregate
from genrelab.batch import EngineSpec
from genrelab.cli import main
from genrelab.errors import GenrelabError
from genrelab.pipeline import Classifier, Windowing


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_specs_parse_and_typos_are_one_line_errors():
    assert parse_aggregate("random:5") == Aggregation("random", 5, 0)
    assert parse_aggregate("random:5:42") == Aggregation("random", 5, 42)
    assert parse_aggregate("vote") == Aggregation("vote")
    for bad in ("random", "random:0", "random:x", "random:3:1:2", "random:3:y", "mean:2"):
        with pytest.raises(GenrelabError, match="aggregate"):
            parse_aggregate(bad)


def test_random_windows_are_reproducible_and_inside_the_song():
    sr, n = 100, 100 * 200
    windowing = Windowing(sr, 30.0, 30.0)
    a = windowing.spans(n, "random:6:1")
    assert a == windowing.spans(n, "random:6:1")
    assert a != windowing.spans(n, "random:6:2")
    assert len(a) == 6 and all(w.start >= 0 and w.end <= n and w.length == 3000 for w in a)
    assert [w.start for w in a] == sorted(w.start for w in a)


def test_random_votes_over_its_windows():
    proba = np.array([[0.5, 0.1, 0.4], [0.45, 0.15, 0.4], [0.0, 0.0, 1.0]])
    assert aggregate(proba, "random:3")[0] == aggregate(proba, "vote")[0] == 0


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    import soundfile as sf

    path = tmp_path_factory.mktemp("song") / "song.wav"
    y = np.concatenate(
        [synth.song(6.0, style="classical", seed=1), synth.song(6.0, style="rock", seed=2)]
    )
    sf.write(path, y, 22050)
    return path


def test_library_and_cli_engine_classify_the_same_random_windows(song, tiny_bundle):
    classifier = Classifier(tiny_bundle)
    first = classifier.classify(song, aggregate="random:5:3")
    again = classifier.classify(song, aggregate="random:5:3")
    other = classifier.classify(song, aggregate="random:5:4")
    spans = [(w.start, w.end) for w in first.windows]
    assert len(spans) == 5 and spans == [(w.start, w.end) for w in again.windows]
    assert spans != [(w.start, w.end) for w in other.windows]
    assert all(end - start == pytest.approx(2.0) for start, end in spans)  # the bundle's window
    votes = [w.genre for w in first.windows]
    assert votes.count(first.genre) == max(map(votes.count, votes))  # the majority
    assert first.aggregate == "random:5:3"
    engine = EngineSpec((str(tiny_bundle),), "random:5:3").build().classify(song)
    assert engine["genre"] == first.genre
    assert [(w["start"], w["end"]) for w in engine["windows"]] == spans
    assert engine["probabilities"] == pytest.approx(first.probabilities)


def test_classify_and_evaluate_take_random(song, tiny_bundle, synth_dataset, tmp_path, capsys):
    code, out, err = run(
        ["classify", song, "-m", tiny_bundle, "--aggregate", "random:4:1", "--json"], capsys
    )
    assert code == 0, err
    assert len(json.loads(out)[0]["windows"]) == 4
    code, _, err = run(["classify", song, "-m", tiny_bundle, "--aggregate", "random:0"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "random" in err
    argv = ["evaluate", tiny_bundle, "--data", synth_dataset, "--aggregate", "random:3:1"]
    code, _, err = run([*argv, "--include-seen", "-o", tmp_path / "e"], capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["aggregate"] == "random:3:1" and metrics["n"] == 12
