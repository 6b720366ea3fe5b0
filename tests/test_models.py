"""The model registry, the feature models and their save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab.errors import ModelError
from genrelab.models import available_models, create_model, model_class

FEATURE_MODELS = ["knn", "logreg", "svm", "random_forest", "xgboost", "soft_vote"]


def _blobs(n_per_class: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = {"rock": (0, 0, 0, 0), "jazz": (4, 0, 4, 0), "pop": (0, 4, 0, 4)}
    X = np.concatenate([rng.normal(c, 1.0, size=(n_per_class, 4)) for c in centres.values()])
    y = np.repeat(list(centres), n_per_class)
    return X * [1, 10, 100, 1000], y  # wildly different scales: the pipelines must scale


def _small(name: str) -> dict:
    return {"random_forest": {"n_estimators": 30}, "xgboost": {"n_estimators": 40}}.get(name, {})


def test_registry_lists_every_feature_model():
    assert set(FEATURE_MODELS) <= set(available_models())


@pytest.mark.parametrize("name", FEATURE_MODELS)
def test_fit_predict_save_load_round_trip(name, tmp_path):
    X, y = _blobs()
    model = create_model(name, **_small(name)).fit(X, y)
    assert list(model.classes_) == ["jazz", "pop", "rock"]
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert (model.predict(X) == y).mean() > 0.9
    model.save(tmp_path)
    again = model_class(name).load(tmp_path, model.get_params())
    np.testing.assert_allclose(again.predict_proba(X), proba, atol=1e-12)


def test_get_params_reflects_init_arguments():
    assert create_model("svm", C=7.0).get_params() == {
        "C": 7.0,
        "gamma": "scale",
        "kernel": "rbf",
        "seed": 0,
    }


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ModelError, match=r"unknown model 'nope'.*svm"):
        create_model("nope")


def test_bad_hyper_parameter_is_a_clear_error():
    with pytest.raises(ModelError, match=r"bad parameters for model 'svm'.*accepted: C"):
        create_model("svm", depth=3)


def test_soft_vote_weights_must_match_members():
    with pytest.raises(ModelError, match="2 members but 1 weights"):
        create_model("soft_vote", weights=[1.0])


def test_soft_vote_is_the_weighted_mean_of_its_members():
    X, y = _blobs()
    members = [{"model": "logreg", "params": {}}, {"model": "knn", "params": {}}]
    vote = create_model("soft_vote", members=members, weights=[3, 1]).fit(X, y)
    a = create_model("logreg").fit(X, y).predict_proba(X)
    b = create_model("knn").fit(X, y).predict_proba(X)
    np.testing.assert_allclose(vote.predict_proba(X), 0.75 * a + 0.25 * b)
