"""The parts of the 11-genre default: a second tagger, the patch budget, the tag prior, and a
column stack whose members know different genres."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab import synth
from genrelab.errors import ModelError
from genrelab.models import create_model
from genrelab.pretrained.embeddings import MusicnnEmbedder
from genrelab.pretrained.musicnn_onnx import MusicnnTagger, patches, tag_names
from genrelab.pretrained.stack import TagPriorModel


def test_second_tagger_rows_match_each_network_alone():
    y = synth.song(7.0, style="rock", seed=3)
    both = MusicnnEmbedder(
        layer="penultimate",
        tags=True,
        tag_logits=True,
        also="MTT_musicnn",
        also_layer="penultimate",
    )
    row = both([y], 22050)[0]
    assert row.shape == (500,) and len(both.names()) == 500
    x = patches(y, 22050)
    msd, mtt = MusicnnTagger("MSD_musicnn").predict(x), MusicnnTagger("MTT_musicnn").predict(x)
    np.testing.assert_allclose(row[:200], msd["penultimate"].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(row[250:450], mtt["penultimate"].mean(0), rtol=1e-5, atol=1e-6)
    p = np.clip(mtt["taggram"].astype(np.float64), 1e-6, 1 - 1e-6)
    np.testing.assert_allclose(row[450:], np.log(p / (1 - p)).mean(0), rtol=1e-4, atol=1e-5)
    assert both.names()[450] == f"MTT_musicnn:tag_logit:{tag_names('MTT_musicnn')[0]}.mean"
    assert MusicnnEmbedder(**{k: v for k, v in both.spec().items() if k != "kind"}) == both


def test_patch_budget_gives_short_tracks_more_patches():
    fe = MusicnnEmbedder(layer=None, tags=True, max_patches=2, patch_budget=16)
    assert fe.for_track(1).max_patches == 16 and fe.for_track(4).max_patches == 4
    assert fe.for_track(8) is fe and fe.for_track(20) is fe
    assert MusicnnEmbedder(layer=None, tags=True, max_patches=2).for_track(1).max_patches == 2
    with pytest.raises(ModelError, match="patch_budget"):
        MusicnnEmbedder(layer=None, tags=True, patch_budget=0)
    with pytest.raises(ModelError, match="also_layer needs also"):
        MusicnnEmbedder(tags=True, also_layer="penultimate")


def test_tag_prior_scores_genres_by_their_strongest_tag():
    prior = TagPriorModel({"rock": [0, 1], "jazz": [2], "reggae": []}, missing=-4.0)
    X = np.array([[3.0, -1.0, 0.0], [-5.0, -5.0, 2.0]])
    P = prior.predict_proba(X)
    assert list(prior.classes_) == ["jazz", "reggae", "rock"]
    logits = np.array([[0.0, -4.0, 3.0], [2.0, -4.0, -5.0]])
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(P, expected)
    with pytest.raises(ModelError, match="no tags for polka"):
        prior.fit(X, ["polka", "rock"])


def test_column_stack_member_without_a_class_is_neutral_on_it(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y10 = np.where(X[:, 0] > 0, "rock", "jazz")
    narrow = create_model("logreg").fit(X[:, :2], y10)
    prior = TagPriorModel({"rock": [0], "jazz": [1], "electronic": [2]})
    members = [
        {"model": "logreg", "params": {}, "columns": [0, 2]},
        {"model": "tag_prior", "params": prior.get_params(), "columns": [1, 4]},
    ]
    stack = create_model("column_stack", members=members, weights=[1.0, 1.0])
    stack.set_members([narrow, prior])
    assert list(stack.classes_) == ["jazz", "rock", "electronic"]
    P = stack.predict_proba(X)
    logs = np.log(np.clip(narrow.predict_proba(X[:, :2]), 1e-6, 1))
    neutral = np.c_[logs, logs.mean(1)]
    prior_p = prior.predict_proba(X[:, 1:4])[
        :, [list(prior.classes_).index(c) for c in stack.classes_]
    ]
    expected = np.exp(neutral + np.log(prior_p))
    np.testing.assert_allclose(P, expected / expected.sum(1, keepdims=True), rtol=1e-9)
    from genrelab.models.bundle import Bundle, ModelCard

    card = ModelCard(
        model="column_stack",
        params=stack.get_params(),
        labels=list(stack.classes_),
        sample_rate=22050,
        frontend={"kind": "features", "feature_set": "gtzan57"},
    )
    Bundle(card, stack).save(tmp_path / "b")
    from genrelab.models import load_bundle

    np.testing.assert_allclose(load_bundle(tmp_path / "b").model.predict_proba(X), P)
