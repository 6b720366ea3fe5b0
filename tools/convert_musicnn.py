"""Convert the TensorFlow checkpoints of musicnn 0.1.0 into genrelab's shipped resources.

Writes to ``src/genrelab/resources/musicnn/``, for ``MSD_musicnn`` and ``MTT_musicnn``:
``<model>.npz`` (the PyTorch state dict of :class:`genrelab.pretrained.musicnn.Musicnn`),
``<model>.onnx`` (taggram + penultimate/mean_pool/max_pool embeddings, dynamic batch),
``tags.json`` and ``LICENSE-musicnn.txt`` (musicnn is ISC-licensed). Run once, by hand::

    python -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0 tf-keras librosa numpy
    pip download musicnn==0.1.0 --no-deps -d /tmp/musicnn_dl
    python -m zipfile -e /tmp/musicnn_dl/musicnn-0.1.0-py3-none-any.whl /tmp/musicnn_dl/unpacked
    python tools/convert_musicnn.py --musicnn /tmp/musicnn_dl/unpacked --tf-python /tmp/tfenv/bin/python

TensorFlow stays in its own venv: this script re-runs itself there (``--read-checkpoint``) only
to dump the checkpoint variables to a plain ``.npz``; the rest runs in the project's Python
with torch and onnx. The numbers are then checked against the original by
``tools/musicnn_golden.py`` and ``tests/test_musicnn.py``.
"""

from __future__ import annotations

import argparse
import json
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "genrelab" / "resources" / "musicnn"
MODELS = ("MSD_musicnn", "MTT_musicnn")

# Our module -> the TF layer of the same role, in the order models.py creates them.
CONVS = {
    "timbral.0": "conv2d",  # 7 x 38
    "timbral.1": "conv2d_1",  # 7 x 67
    "temporal.0": "conv2d_2",  # 128 x 1
    "temporal.1": "conv2d_3",  # 64 x 1
    "temporal.2": "conv2d_4",  # 32 x 1
    "mid.0": "conv2d_5",
    "mid.1": "conv2d_6",
    "mid.2": "conv2d_7",
}
NORMS = {
    "input_bn": "batch_normalization",
    **{f"{name}.bn": f"batch_normalization_{i}" for i, name in enumerate(CONVS, start=1)},
    "pool_bn": "batch_normalization_9",
    "dense_bn": "batch_normalization_10",
}
DENSES = {"dense": "dense", "out": "dense_1"}
BN_PARAMS = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "moving_mean",
    "running_var": "moving_variance",
}


def read_checkpoint(checkpoint: str, out: str) -> None:
    """Dump every model variable (not the Adam slots) of ``checkpoint`` to ``out`` (npz)."""
    from tensorflow.python.training.py_checkpoint_reader import NewCheckpointReader

    reader = NewCheckpointReader(checkpoint)
    names = [n for n in reader.get_variable_to_shape_map() if "Adam" not in n and "power" not in n]
    np.savez(out, **{n: reader.get_tensor(n) for n in names})


def to_state_dict(tf: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """TF (NHWC kernels, (in, out) dense) to PyTorch names and layouts."""
    sd: dict[str, np.ndarray] = {}
    for name, layer in CONVS.items():
        kernel = tf[f"{layer}/kernel"]  # (time, freq, in, out)
        if name.startswith("mid"):  # a (7, channels) 2-D conv is a 1-D conv over channels
            sd[f"{name}.conv.weight"] = kernel[:, :, 0, :].transpose(2, 1, 0)
        else:
            sd[f"{name}.conv.weight"] = kernel.transpose(3, 2, 0, 1)
        sd[f"{name}.conv.bias"] = tf[f"{layer}/bias"]
    for name, layer in NORMS.items():
        for ours, theirs in BN_PARAMS.items():
            sd[f"{name}.{ours}"] = tf[f"{layer}/{theirs}"]
        sd[f"{name}.num_batches_tracked"] = np.array(0, dtype=np.int64)
    for name, layer in DENSES.items():
        sd[f"{name}.weight"] = tf[f"{layer}/kernel"].T
        sd[f"{name}.bias"] = tf[f"{layer}/bias"]
    return {k: np.ascontiguousarray(v) for k, v in sd.items()}


def convert(model: str, checkpoint: Path, tf_python: str) -> None:
    import onnxruntime as ort
    import torch

    from genrelab import synth
    from genrelab.pretrained.musicnn import Musicnn
    from genrelab.pretrained.musicnn_onnx import OUTPUTS, patches

    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "tf.npz"
        cmd = [tf_python, __file__, "--read-checkpoint", f"{checkpoint}/", str(dump)]
        subprocess.run(cmd, check=True)
        with np.load(dump) as f:
            tf = {k: f[k] for k in f.files}
    sd = to_state_dict(tf)
    net = Musicnn(n_tags=tf["dense_1/bias"].shape[0]).eval()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})  # strict: all keys
    np.savez(OUT / f"{model}.npz", **sd)

    x = patches(synth.song(12.0, sr=16000, style="disco"), 16000)  # 4 patches: batch of 4
    onnx_path = OUT / f"{model}.onnx"
    torch.onnx.export(
        net,
        (torch.from_numpy(x),),
        onnx_path,
        input_names=["log_mel"],
        output_names=list(OUTPUTS),
        dynamic_axes={name: {0: "batch"} for name in ("log_mel", *OUTPUTS)},
        opset_version=17,
        dynamo=False,
    )
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUTS), {"log_mel": x})
    want = net.predict(x)
    for name, value in zip(OUTPUTS, got, strict=True):
        err = float(np.abs(value - want[name]).max() / np.abs(want[name]).max())
        print(f"{model} {name}: ONNX vs torch max diff {err:.1e} of the largest value")
        if err > 1e-5:
            raise SystemExit(f"{model}: ONNX export disagrees with torch on {name}")


def main() -> None:
    if sys.argv[1:2] == ["--read-checkpoint"]:
        read_checkpoint(*sys.argv[2:4])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--musicnn", type=Path, required=True, help="folder holding musicnn/")
    parser.add_argument("--tf-python", required=True, help="a python that has TensorFlow")
    args = parser.parse_args()
    package = args.musicnn / "musicnn"
    OUT.mkdir(parents=True, exist_ok=True)
    config = runpy.run_path(str(package / "configuration.py"))
    tags = {"MSD_musicnn": config["MSD_LABELS"], "MTT_musicnn": config["MTT_LABELS"]}
    (OUT / "tags.json").write_text(json.dumps(tags, indent=1) + "\n")
    licence = next(args.musicnn.glob("musicnn-*.dist-info/LICENSE*")).read_text()
    (OUT / "LICENSE-musicnn.txt").write_text(
        "The musicnn models in this folder (MSD_musicnn, MTT_musicnn: weights, ONNX graphs and\n"
        "tag lists) are converted from musicnn 0.1.0, https://github.com/jordipons/musicnn,\n"
        "distributed under the ISC licence:\n\n" + licence.strip() + "\n"
    )
    for model in MODELS:
        convert(model, package / model, args.tf_python)


if __name__ == "__main__":
    main()
