"""Every registered neural model trains on tiny synthetic data and round-trips through a bundle."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from genrelab import synth  # noqa: E402
from genrelab.errors import ModelError  # noqa: E402
from genrelab.features.frontends import build_frontend  # noqa: E402
from genrelab.models import Bundle, ModelCard, create_model, load_bundle, model_class  # noqa: E402

SR = 8000
SPECTROGRAM = {"kind": "melspec", "n_mels": 32, "n_fft": 512, "hop": 256, "duration": 1.0}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks run fastest on one thread, and the test machine's cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = {
    "mlp": {"hidden": [16]},
    "mlp_spec": {"hidden": [16]},
    "cnn": {"channels": [4, 8, 8], "dense": 8},
    "resnet_cnn": {"channels": [4, 8], "blocks_per_stage": 1},
    "crnn": {"channels": [4, 8, 8], "hidden": 8},
    "lstm": {"hidden": 8, "layers": 1},
    "gru": {"hidden": 8, "layers": 2},
    "samplecnn": {"channels": [4, 4, 8, 8, 8]},
    "wavenet": {"channels": 8, "stride": 16, "layers": 3},
    "image_resnet": {
        "config": {
            "embedding_size": 8,
            "hidden_sizes": [8, 16],
            "depths": [1, 1],
            "layer_type": "basic",
        }
    },
    "image_convnext": {"config": {"hidden_sizes": [8, 16], "depths": [1, 1], "num_stages": 2}},
    "image_efficientnet": {
        "config": {"width_coefficient": 0.1, "depth_coefficient": 0.1, "hidden_dim": 128}
    },
    "image_vit": {
        "config": {
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
        }
    },
}


def clips(n_per_class: int = 4) -> tuple[list[np.ndarray], np.ndarray]:
    """One-second windows of three textures: tones, noise, drums."""
    audio, labels = [], []
    for i in range(n_per_class):
        audio += [
            synth.tone(200 * (i + 1), 1.0, SR),
            synth.noise(1.0, SR, 0.3, seed=i),
            synth.drums(1.0, SR, bpm=120 + 10 * i, seed=i),
        ]
        labels += ["tones", "noise", "drums"]
    return audio, np.array(labels)


def inputs_for(name: str) -> tuple[np.ndarray, np.ndarray, dict]:
    audio, labels = clips()
    kind = model_class(name).input_kind
    if kind == "features":  # three separated blobs of 57 values
        rng = np.random.default_rng(0)
        codes = np.unique(labels, return_inverse=True)[1]
        return rng.normal(size=(len(labels), 57)) + 3.0 * codes[:, None], labels, {}
    spec = {"kind": "waveform", "duration": 1.0} if kind == "waveform" else dict(SPECTROGRAM)
    if kind == "mfcc":
        spec.update(kind="mfcc", n_mfcc=13)
    return build_frontend(spec)(audio, SR), labels, spec


def test_every_model_of_the_neural_package_has_a_tiny_configuration():
    from genrelab.models import available_models

    ours = {
        n for n in available_models() if model_class(n).__module__.startswith("genrelab.neural")
    }
    assert ours == set(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_model_trains_one_epoch_and_its_bundle_gives_the_same_probabilities(name, tmp_path):
    X, y, spec = inputs_for(name)
    model = create_model(name, epochs=1, batch_size=6, device="cpu", **TINY[name])
    model.fit(X, y)
    assert len(model.history_) == 1 and np.isfinite(model.history_[0]["train_loss"])
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)

    card = ModelCard(
        name, model.get_params(), list(model.classes_), SR, spec or {"kind": "features"}
    )
    loaded = load_bundle(Bundle(card, model).save(tmp_path / name))
    np.testing.assert_allclose(loaded.model.predict_proba(X), proba, rtol=0, atol=1e-6)
    assert loaded.model.get_params() == model.get_params()


def test_the_cnn_learns_to_tell_tones_noise_and_drums_apart():
    X, y, _ = inputs_for("cnn")
    model = create_model("cnn", epochs=25, batch_size=6, lr=3e-3, device="cpu", **TINY["cnn"])
    model.fit(X, y)
    assert model.history_[-1]["train_loss"] < model.history_[0]["train_loss"] / 2
    assert (model.predict(X) == y).mean() == 1.0


def test_training_hyper_parameters_are_checked_with_clear_errors():
    with pytest.raises(ModelError, match="unknown schedule 'linear'"):
        create_model("cnn", schedule="linear")
    with pytest.raises(ModelError, match=r"bad parameters for model 'cnn'.*accepted: channels"):
        create_model("cnn", width=3)


def test_pretrained_weights_that_cannot_be_fetched_are_a_model_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    X, y, _ = inputs_for("image_resnet")
    model = create_model("image_resnet", pretrained=str(tmp_path / "no-such-model"), epochs=1)
    with pytest.raises(ModelError, match="could not load pretrained weights"):
        model.fit(X, y)
