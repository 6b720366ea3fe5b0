"""The exemplar gate: recognises rows near its exemplars, is uniform (neutral) elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab.errors import ModelError
from genrelab.models import create_model, model_class


@pytest.fixture
def gate():
    rng = np.random.default_rng(0)
    jazz, rock = rng.normal(size=(1, 64)), rng.normal(size=(1, 64))
    background = rng.normal(size=(40, 64))
    X = np.vstack([jazz + 0.05 * rng.normal(size=(6, 64)), rock + 0.05 * rng.normal(size=(6, 64))])
    X = np.vstack([X, background])
    y = ["jazz"] * 6 + ["rock"] * 6 + ["background"] * 40
    X = np.hstack([X, rng.normal(size=(len(X), 3))])  # columns the gate does not read
    model = create_model(
        "exemplar_gate", blocks=[[0, 32], [32, 64]], k=3, classes=["electronic", "jazz", "rock"]
    )
    return model.fit(X, y), jazz, background


def test_a_row_like_an_exemplar_gains_its_class_and_others_are_neutral(gate):
    model, jazz, background = gate
    assert list(model.classes_) == ["electronic", "jazz", "rock"]
    near = np.hstack([jazz, np.zeros((1, 3))])
    P = model.predict_proba(near)
    assert P[0].argmax() == 1 and P[0, 1] > 0.99
    like_background = np.hstack([background[:5], np.zeros((5, 3))])
    np.testing.assert_allclose(model.predict_proba(like_background), 1 / 3)


def test_saved_gate_answers_the_same(gate, tmp_path):
    model, jazz, background = gate
    X = np.hstack([np.vstack([jazz, background[:3]]), np.ones((4, 3))])
    model.save(tmp_path)
    loaded = model_class("exemplar_gate").load(tmp_path, model.get_params())
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert list(loaded.classes_) == list(model.classes_)


def test_gate_checks_its_parameters_and_rows():
    with pytest.raises(ModelError, match="blocks"):
        create_model("exemplar_gate", blocks=[[3, 1]])
    with pytest.raises(ModelError, match="temperature"):
        create_model("exemplar_gate", blocks=[[0, 2]], temperature=0)
    with pytest.raises(ModelError, match="background rows"):
        create_model("exemplar_gate", blocks=[[0, 2]]).fit(np.ones((3, 2)), ["a", "b", "a"])
