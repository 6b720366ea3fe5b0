"""The public Python API: ``genrelab.classify`` and ``genrelab.load_model``, and its doctests."""

from __future__ import annotations

import doctest
import json

import pytest

import genrelab
from genrelab import api, synth
from genrelab.cli import main
from genrelab.models import combine
from genrelab.pipeline import classifier, pipeline, result, windowing

#: The public API and the pipeline behind it: every example in their docstrings must run.
DOCUMENTED = (genrelab, api, classifier, pipeline, result, windowing, combine)


def test_docstring_examples_run():
    results = {m.__name__: doctest.testmod(m) for m in DOCUMENTED}
    assert all(r.failed == 0 for r in results.values()), results
    assert results["genrelab.api"].attempted >= 8
    assert all(r.attempted for r in results.values()), results


def test_every_public_function_has_a_numpydoc_example():
    for name in ("classify", "load_model", "tags"):
        doc = getattr(genrelab, name).__doc__
        for section in ("Parameters", "Returns", "Examples"):
            assert f"{section}\n    ----" in doc, (name, section)


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
