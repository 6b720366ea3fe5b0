"""The musicnn port (PyTorch and ONNX) against the original TensorFlow musicnn.

``fixtures/musicnn_golden.json`` holds the original's outputs, recorded by
``tools/musicnn_golden.py``; both backends must reproduce its tag probabilities within 1e-4.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from genrelab import synth
from genrelab.errors import AudioError, ModelError
from genrelab.pretrained.musicnn_meta import MODELS
from genrelab.pretrained.musicnn_onnx import (
    EMBEDDINGS,
    MIN_SAMPLES,
    PATCH_FRAMES,
    SR,
    MusicnnTagger,
    patches,
)

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "musicnn_golden.json").read_text())
REAL_CLIPS = [c for c in GOLDEN["clips"] if c != "synthetic"]
TOL = 1e-4
ONNX = ["onnx"]
BOTH = ["onnx", "torch"]


@cache
def tagger(model: str, backend: str) -> MusicnnTagger:
    pytest.importorskip("onnxruntime" if backend == "onnx" else "torch")
    return MusicnnTagger(model, backend=backend)


@pytest.fixture(scope="module")
def synthetic() -> np.ndarray:
    spec = GOLDEN["synthetic"]
    y = synth.song(spec["duration"], sr=spec["sr"], style=spec["style"], seed=spec["seed"])
    if hashlib.sha256(y.tobytes()).hexdigest() != spec["sha256_float32"]:
        pytest.fail("genrelab.synth.song changed: rerun tools/musicnn_golden.py")
    return y


@pytest.fixture(scope="module")
def real_patches(gtzan_dev: Path) -> dict[str, np.ndarray]:
    """Decoded as the original's ``librosa.load(path, sr=16000)`` does (soxr HQ)."""
    from genrelab.audio import load

    clips = {c: gtzan_dev / c.split(".")[0] / f"{c}.wav" for c in REAL_CLIPS}
    return {c: patches(*load(path)) for c, path in clips.items()}


def assert_matches_golden(taggram: np.ndarray, golden: dict) -> None:
    assert taggram.shape == (golden["n_patches"], 50)
    head = np.asarray(golden["taggram_head"])
    np.testing.assert_allclose(taggram[: len(head)], head, rtol=0, atol=TOL)
    np.testing.assert_allclose(taggram.mean(axis=0), golden["mean_tags"], rtol=0, atol=TOL)


@pytest.mark.parametrize("backend", BOTH)
@pytest.mark.parametrize("model", MODELS)
def test_synthetic_clip_matches_original(model: str, backend: str, synthetic: np.ndarray) -> None:
    golden = GOLDEN["clips"]["synthetic"][model]
    out = tagger(model, backend).outputs(synthetic, SR)
    assert_matches_golden(out["taggram"], golden)
    for layer, want in golden["embeddings_patch0"].items():
        scale = np.abs(want).max()  # max_pool reaches ~90: compare relative to the layer
        np.testing.assert_allclose(out[layer][0], want, rtol=0, atol=1e-5 * scale, err_msg=layer)


@pytest.mark.shared
@pytest.mark.parametrize("backend", [*ONNX, pytest.param("torch", marks=pytest.mark.slow)])
@pytest.mark.parametrize("model", MODELS)
def test_real_clips_match_original(
    model: str, backend: str, real_patches: dict[str, np.ndarray]
) -> None:
    for clip, x in real_patches.items():
        taggram = tagger(model, backend).predict(x)["taggram"]
        assert_matches_golden(taggram, GOLDEN["clips"][clip][model])


@pytest.mark.parametrize("model", MODELS)
def test_tag_names_are_the_originals(model: str) -> None:
    assert tagger(model, "onnx").tag_names == GOLDEN["tags"][model]


def test_tags_embed_and_top_tags_agree(synthetic: np.ndarray) -> None:
    t = tagger("MSD_musicnn", "onnx")
    taggram, names = t.tags(synthetic, SR)
    assert names == GOLDEN["tags"]["MSD_musicnn"]
    top = t.top_tags(synthetic, SR, k=3)
    mean = taggram.mean(axis=0)
    assert [n for n, _ in top] == [names[i] for i in np.argsort(-mean)[:3]]
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    dims = {"max_pool": 753, "mean_pool": 753, "penultimate": 200}
    for layer in EMBEDDINGS:
        assert t.embed(synthetic, SR, layer=layer).shape == (len(taggram), dims[layer])
    with pytest.raises(ModelError, match="taggram"):
        t.embed(synthetic, SR, layer="taggram")


def test_patch_hop_overlaps_patches(synthetic: np.ndarray) -> None:
    """Seconds to frames as the original's input_overlap: 1 s -> 61 frames."""
    plain = tagger("MSD_musicnn", "onnx")
    hopped = MusicnnTagger("MSD_musicnn", patch_hop=1.0)
    frames = 1 + len(synthetic) // 256
    taggram = hopped.tags(synthetic, SR)[0]
    assert len(taggram) == len(range(0, frames - PATCH_FRAMES + 1, 61)) == 8
    np.testing.assert_allclose(taggram[0], plain.tags(synthetic, SR)[0][0], atol=1e-6)
    with pytest.raises(ModelError, match="patch_hop"):
        MusicnnTagger("MSD_musicnn", patch_hop=0.01)


def test_shortest_signal_is_one_patch_and_shorter_is_refused(synthetic: np.ndarray) -> None:
    assert patches(synthetic[:MIN_SAMPLES], SR).shape == (1, PATCH_FRAMES, 96)
    with pytest.raises(AudioError, match=r"at least 2\.976 s"):
        tagger("MSD_musicnn", "onnx").tags(synthetic[: MIN_SAMPLES - 1], SR)


@pytest.mark.parametrize(
    ("y", "sr", "match"),
    [
        (np.zeros((2, SR * 4)), SR, "mono"),
        (np.full(SR * 4, np.nan), SR, "NaN"),
        (np.zeros(SR * 4), 0, "sample rate"),
    ],
)
def test_bad_signals_raise_audio_error(y: np.ndarray, sr: int, match: str) -> None:
    with pytest.raises(AudioError, match=match):
        patches(y, sr)


def test_unknown_model_or_backend() -> None:
    with pytest.raises(ModelError, match="MSD_musicnn, MTT_musicnn"):
        MusicnnTagger("MSD_vgg")
    with pytest.raises(ModelError, match="onnx, torch"):
        MusicnnTagger("MSD_musicnn", backend="tensorflow")


def test_onnx_backend_does_not_import_torch() -> None:
    pytest.importorskip("onnxruntime")
    code = (
        "import sys; from genrelab.pretrained import MusicnnTagger; "
        "MusicnnTagger('MTT_musicnn'); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_torch_frame_layers_pool_to_the_embeddings(synthetic: np.ndarray) -> None:
    """The per-frame layers keep the original's names and order: they concatenate to the pools."""
    torch = pytest.importorskip("torch")
    from genrelab.pretrained.musicnn import load_musicnn

    with torch.inference_mode():
        out = load_musicnn("MTT_musicnn").features(torch.from_numpy(patches(synthetic, SR)[:1]))
    frames = torch.cat([out[k] for k in ("timbral", "temporal", "cnn1", "cnn2", "cnn3")], dim=2)
    assert out["timbral"].shape == (1, PATCH_FRAMES, 408)
    torch.testing.assert_close(frames.mean(dim=1), out["mean_pool"])
    torch.testing.assert_close(frames.amax(dim=1), out["max_pool"])
