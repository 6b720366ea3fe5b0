"""The embedded default model: 11 genres, short input from 3 s, ``--labels gtzan``."""

from __future__ import annotations

import json

import pytest

from genrelab import synth
from genrelab.cli import main
from genrelab.errors import AudioError
from genrelab.labels import GTZAN
from genrelab.pipeline import Classifier


@pytest.fixture(scope="module")
def classifier():
    return Classifier()


def test_default_labels_are_gtzan_plus_electronic(classifier):
    assert classifier.labels == sorted([*GTZAN, "electronic"])


def test_three_seconds_are_classified_and_shorter_is_refused(classifier, write_wav):
    short = write_wav("three.wav", synth.song(3.0, style="rock", seed=2))
    result = classifier.classify(short)
    assert len(result.windows) == 1 and result.windows[0].end == pytest.approx(3.0, abs=0.01)
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    too_short = write_wav("two.wav", synth.song(2.5, style="rock", seed=2))
    with pytest.raises(
        AudioError, match=r"two\.wav is 2\.5 s long; this model needs at least 3\.0 s"
    ):
        classifier.classify(too_short)


def test_a_single_window_track_is_heard_through_all_its_patches(classifier):
    assert classifier.pipelines[0].frontend_for(1).max_patches == 16
    assert classifier.pipelines[0].frontend_for(8).max_patches == 2


def test_labels_gtzan_on_the_cli(write_wav, capsys):
    path = write_wav("song.wav", synth.song(8.0, style="classical", seed=4))
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", str(path), "--labels", "gtzan", "--json"])
    assert exit_info.value.code == 0
    [result] = json.loads(capsys.readouterr().out)
    assert sorted(result["probabilities"]) == list(GTZAN)
    assert result["genre"] in GTZAN
