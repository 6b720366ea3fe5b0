import numpy as np
import pytest

from genrelab.aggregate import aggregate
from genrelab.errors import GenrelabError

PROBA = np.array([[0.5, 0.1, 0.4], [0.45, 0.15, 0.4], [0.0, 0.0, 1.0]])


def test_mean_picks_the_highest_mean_probability():
    best, confidence, mean = aggregate(PROBA, "mean")
    assert best == 2  # class 2 wins on mean (0.6) despite losing the vote
    assert confidence == pytest.approx(0.6)
    np.testing.assert_allclose(mean, PROBA.mean(axis=0))


def test_vote_takes_the_majority_and_the_winners_mean_probability():
    best, confidence, mean = aggregate(PROBA, "vote")
    assert best == 0
    assert confidence == pytest.approx((0.5 + 0.45) / 2)
    np.testing.assert_allclose(mean, PROBA.mean(axis=0))


def test_vote_ties_go_to_the_higher_mean_probability():
    proba = np.array([[0.9, 0.1], [0.4, 0.6]])
    assert aggregate(proba, "vote")[0] == 0


def test_unknown_method_and_empty_input_are_errors():
    with pytest.raises(GenrelabError, match="unknown aggregate"):
        aggregate(PROBA, "median")
    with pytest.raises(GenrelabError, match="no windows"):
        aggregate(np.zeros((0, 3)), "mean")
