"""musicnn embeddings as a front end and a cached feature set; the column stack model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genrelab import synth
from genrelab.errors import DataError, ModelError
from genrelab.features.frontends import build_frontend
from genrelab.models import create_model, load_bundle
from genrelab.models.bundle import Bundle, ModelCard
from genrelab.models.combine import product_of_experts
from genrelab.pipeline import Classifier
from genrelab.pretrained.embeddings import MusicnnEmbedder, load_embedding_data, make_embedder
from genrelab.pretrained.musicnn_onnx import SR
from genrelab.pretrained.stack import ColumnStackModel
from genrelab.pretrained.tagging import tagger
from genrelab.training import train

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def nine_seconds() -> np.ndarray:
    """Three back-to-back musicnn patches of synthetic rock at 16 kHz."""
    return synth.song(9.0, sr=SR, style="rock", seed=3)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two styles x three 6.5 s tracks in a folder-per-genre tree."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("emb-data")
    for genre, style in (("rock", "rock"), ("classical", "classical")):
        (root / genre).mkdir()
        for i in range(3):
            y = synth.song(6.5, style=style, seed=i)
            sf.write(root / genre / f"{genre}{i}.wav", y, 22050, subtype="PCM_16")
    return root


def test_embedding_is_the_mean_of_patch_outputs(nine_seconds: np.ndarray) -> None:
    embedder = MusicnnEmbedder(layer="max_pool", pool="mean", tags=True)
    row = embedder([nine_seconds], SR)
    out = tagger("MSD_musicnn").outputs(nine_seconds, SR)
    assert len(out["max_pool"]) == 3
    expected = np.concatenate([out["max_pool"].mean(0), out["taggram"].mean(0)])
    np.testing.assert_allclose(row[0], expected, rtol=1e-5, atol=1e-6)
    assert row.shape == (1, 753 + 50) == (1, len(embedder.names()))
    assert embedder.names()[753] == "tag:rock.mean"


def test_several_layers_and_tag_log_odds(nine_seconds: np.ndarray) -> None:
    spec = {"kind": "musicnn", "layer": ["penultimate", "max_pool"], "tags": True}
    embedder = build_frontend({**spec, "tag_logits": True})
    row = embedder([nine_seconds], SR)[0]
    out = tagger("MSD_musicnn").outputs(nine_seconds, SR)
    p = out["taggram"].astype(np.float64)
    expected = [out["penultimate"].mean(0), out["max_pool"].mean(0), np.log(p / (1 - p)).mean(0)]
    np.testing.assert_allclose(row, np.concatenate(expected), rtol=1e-4, atol=1e-5)
    assert embedder.spec()["layer"] == ["penultimate", "max_pool"] and hash(embedder)
    assert (
        embedder.names()[200] == "max_pool0.mean" and embedder.names()[-1] == "tag_logit:happy.mean"
    )
    with pytest.raises(ModelError, match="tag_logits"):
        MusicnnEmbedder(tag_logits=True)


def test_max_patches_keeps_evenly_spaced_patches(nine_seconds: np.ndarray) -> None:
    out = tagger("MSD_musicnn").outputs(nine_seconds, SR)["penultimate"]
    row = MusicnnEmbedder(layer="penultimate", max_patches=2)([nine_seconds], SR)[0]
    np.testing.assert_allclose(row, out[[0, 2]].mean(0), rtol=1e-5, atol=1e-6)
    both = MusicnnEmbedder(layer="penultimate", pool="mean+std")([nine_seconds], SR)[0]
    np.testing.assert_allclose(both[200:], out.std(0), rtol=1e-5, atol=1e-6)


def test_handcrafted_features_come_first() -> None:
    from genrelab.features.reference import gtzan_features

    y = synth.song(3.5, style="disco", seed=1)
    embedder = MusicnnEmbedder(layer=None, tags=True, features="gtzan57")
    row = embedder([y], 22050)[0]
    assert embedder.sample_rate == 22050 and len(row) == 57 + 50
    np.testing.assert_allclose(row[:57], gtzan_features(y, 22050), rtol=1e-5)
    np.testing.assert_allclose(row[57:], tagger("MSD_musicnn").tags(y, 22050)[0].mean(0), atol=1e-6)


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "musicnn", "layer": "conv9"},
        {"kind": "musicnn", "layer": None},
        {"kind": "musicnn", "pool": "median"},
        {"kind": "musicnn", "model": "FMA_musicnn"},
        {"kind": "musicnn", "max_patches": 0},
        {"kind": "musicnn", "colour": "blue"},
    ],
)
def test_bad_musicnn_front_ends_are_model_errors(spec: dict) -> None:
    with pytest.raises(ModelError):
        build_frontend(spec)


def test_short_names_select_the_musicnn_models() -> None:
    assert make_embedder("musicnn-mtt", tags=True).spec()["model"] == "MTT_musicnn"
    assert make_embedder("musicnn-msd", layer=None, tags=True).spec() == {
        "kind": "musicnn",
        "model": "MSD_musicnn",
        "layer": None,
        "pool": "mean",
        "tags": True,
    }


def test_embeddings_are_cached_per_content_and_layer(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = MusicnnEmbedder.__call__

    def counting(self, windows, sr):
        calls.append(len(windows))
        return original(self, windows, sr)

    monkeypatch.setattr(MusicnnEmbedder, "__call__", counting)
    cache = str(tmp_path / "cache")
    first = load_embedding_data(str(dataset), "musicnn-msd", window_s=3.0, cache_dir=cache)
    assert first.X.shape == (12, 753) and len(calls) == 12  # 6 tracks x 2 windows of 3 s
    again = load_embedding_data(str(dataset), "musicnn-msd", window_s=3.0, cache_dir=cache)
    np.testing.assert_array_equal(again.X, first.X)
    assert len(calls) == 12
    other = load_embedding_data(
        str(dataset), "musicnn-msd", window_s=3.0, cache_dir=cache, layer="penultimate"
    )
    assert other.X.shape == (12, 200) and len(calls) == 24
    assert first.frontend == {
        "kind": "musicnn",
        "model": "MSD_musicnn",
        "layer": "max_pool",
        "pool": "mean",
        "tags": False,
    }
    assert first.sample_rate == SR and first.windowing["min_s"] == 3.0


def test_feature_table_is_refused(feature_table: Path) -> None:
    with pytest.raises(DataError, match="audio"):
        load_embedding_data(str(feature_table), "musicnn-msd")


def test_head_on_embeddings_classifies_files_like_training(dataset: Path, tmp_path: Path) -> None:
    data = load_embedding_data(
        str(dataset), "musicnn-msd", window_s=3.0, cache_dir=str(tmp_path / "c"), tags=True
    )
    bundle = train(data, "logreg", {"C": 0.5}, protocol="kfold-3")
    assert bundle.card.frontend["kind"] == "musicnn" and bundle.card.frontend["tags"] is True
    assert bundle.card.validation[0]["metrics"]["folds"] == 3
    bundle.save(tmp_path / "bundle")
    classifier = Classifier(tmp_path / "bundle")
    result = classifier.classify(dataset / "rock" / "rock0.wav")
    rows = data.X[data.groups == "rock/rock0"]
    expected = bundle.model.predict_proba(rows).mean(0)
    got = [result.probabilities[c] for c in bundle.labels]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert len(result.windows) == 2


def _fitted_stack(rng: np.random.Generator) -> tuple[ColumnStackModel, np.ndarray]:
    y = np.repeat(["a", "b", "c"], 10)
    X = rng.standard_normal((30, 5)) + (y[:, None] == "a") * 2.0
    stack = ColumnStackModel(
        members=[
            {"model": "logreg", "params": {"C": 1.0}, "columns": [0, 2]},
            {"model": "knn", "params": {"n_neighbors": 3}, "columns": [2, 5]},
        ],
        weights=[1.0, 0.5],
    ).fit(X, y)
    return stack, X


def test_column_stack_is_a_weighted_product_of_experts(tmp_path: Path) -> None:
    stack, X = _fitted_stack(np.random.default_rng(0))
    first = stack.models_[0].predict_proba(X[:, :2])
    second = stack.models_[1].predict_proba(X[:, 2:])
    expected = first * np.clip(second, 1e-6, 1) ** 0.5
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(stack.predict_proba(X), expected, rtol=1e-9)
    card = ModelCard("column_stack", stack.get_params(), list(stack.classes_), 22050, {})
    Bundle(card, stack).save(tmp_path / "stack")
    loaded = load_bundle(tmp_path / "stack").model
    np.testing.assert_allclose(loaded.predict_proba(X), stack.predict_proba(X))


def test_column_stack_checks_its_members() -> None:
    with pytest.raises(ModelError, match="columns"):
        create_model("column_stack", members=[{"model": "logreg", "columns": [3, 1]}])
    with pytest.raises(ModelError, match="weights"):
        ColumnStackModel([{"model": "logreg", "columns": [0, 1]}], weights=[1.0, 2.0])
    uniform = product_of_experts([np.full((1, 4), 0.25)], [3.0])
    np.testing.assert_allclose(uniform, 0.25)
