"""Windows in threads give the same numbers as one at a time; the thread count is validated."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab import parallel, synth
from genrelab.errors import GenrelabError
from genrelab.pipeline import Classifier


def test_classification_does_not_depend_on_the_thread_count(monkeypatch, write_wav):
    path = write_wav("song.wav", synth.song(70.0, style="disco", seed=8))
    classifier = Classifier()
    monkeypatch.setenv(parallel.ENV, "1")
    one = classifier.classify(path)
    monkeypatch.setenv(parallel.ENV, "3")
    three = classifier.classify(path)
    assert len(one.windows) == len(three.windows) == 3
    for a, b in zip(one.windows, three.windows, strict=True):
        assert a.probabilities == b.probabilities  # bit for bit


def test_futures_run_in_order_of_submission_and_carry_errors(monkeypatch):
    monkeypatch.setenv(parallel.ENV, "2")
    jobs = parallel.starmap(np.add, [(i, 1) for i in range(10)])
    assert [job.result() for job in jobs] == list(range(1, 11))
    failing = parallel.submit(np.divide, "a", 2)
    with pytest.raises(TypeError):
        failing.result()


def test_one_thread_runs_in_the_caller(monkeypatch):
    import threading

    monkeypatch.setenv(parallel.ENV, "1")
    assert parallel.submit(threading.get_ident).result() == threading.get_ident()


@pytest.mark.parametrize("value", ["0", "two", "-1", "1.5"])
def test_a_bad_thread_count_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv(parallel.ENV, value)
    with pytest.raises(GenrelabError, match="GENRELAB_THREADS must be a whole number"):
        parallel.thread_count()
