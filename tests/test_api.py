"""The public Python API: ``genrelab.classify`` and ``genrelab.load_model``, and its doctests."""

from __future__ import annotations

import doctest
import json

import pytest

import genrelab
from genrelab import api, synth
from genrelab.cli import main


def test_docstring_examples_run():
    results = {m.__name__: doctest.testmod(m) for m in (api, genrelab)}
    assert all(r.failed == 0 for r in results.values()), results
    assert results["genrelab.api"].attempted >= 6


def test_a_file_through_the_api_equals_the_cli(write_wav, capsys):
    path = write_wav("song.wav", synth.song(40.0, style="rock", seed=9))
    result = genrelab.classify(path, labels="gtzan")
    with pytest.raises(SystemExit):
        main(["classify", str(path), "--labels", "gtzan", "--json"])
    [cli] = json.loads(capsys.readouterr().out)
    assert cli["genre"] == result.genre
    for label, p in result.probabilities.items():
        assert cli["probabilities"][label] == pytest.approx(p, abs=1e-12)
    assert [w["start"] for w in cli["windows"]] == [w.start for w in result.windows]


def test_models_are_loaded_once_and_arrays_need_a_rate():
    assert genrelab.load_model() is genrelab.load_model("default")
    assert genrelab.load_model(labels=["rock", "jazz"]).labels == ["jazz", "rock"]
    with pytest.raises(genrelab.AudioError, match="give sr"):
        genrelab.classify(synth.song(4.0, seed=1))
