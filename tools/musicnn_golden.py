"""Record what the ORIGINAL musicnn (TensorFlow) outputs, as the golden data for our port.

``tests/test_musicnn.py`` checks that ``genrelab.pretrained`` (PyTorch and ONNX backends)
reproduces these numbers. The original needs TensorFlow, which must never enter the project's
environment, so this runs once, by hand, in a throw-away venv::

    python -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0 tf-keras librosa numpy
    pip download musicnn==0.1.0 --no-deps -d /tmp/musicnn_dl
    python -m zipfile -e /tmp/musicnn_dl/musicnn-0.1.0-py3-none-any.whl /tmp/musicnn_dl/unpacked
    /tmp/tfenv/bin/python tools/musicnn_golden.py --musicnn /tmp/musicnn_dl/unpacked

It runs ``musicnn.extractor.extractor`` itself (graph, checkpoint restore, batching, sigmoid)
with a single change: under NumPy 2 its ``batch_data`` computes ``log10(10000 * x + 1)`` on the
float16 mel power in float16, which overflows to inf on loud frames, so here the log is taken in
float32 after the float16 rounding (our port does the same). Clips: the synthetic song the
test regenerates (written as a float WAV at 16 kHz so ``librosa.load`` returns its exact
samples) and, when ``../shared/data`` is present, one real GTZAN clip of a few genres.

Stored per clip and model: the tag probabilities averaged over the 3 s patches, the first
patches of the taggram, and (synthetic clip only) the embeddings of the first patch. Only the
first patch's embeddings are trustworthy in the original: its extractor concatenates the
first batch's ``penultimate``/``cnn*`` again for every later batch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ["TF_USE_LEGACY_KERAS"] = "1"  # the original uses tf.compat.v1.layers
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
GTZAN_DEV = ROOT.parent / "shared" / "data" / "gtzan-dev"
REAL_CLIPS = ("metal.00000", "hiphop.00000", "disco.00000", "classical.00000")
SYNTH = {"duration": 10.0, "sr": 16000, "style": "rock", "seed": 0}
MODELS = ("MSD_musicnn", "MTT_musicnn")
HEAD_PATCHES = 3
EMBEDDINGS = ("mean_pool", "max_pool", "penultimate")


def _batch_data_float32_log(audio_file: str, n_frames: int, overlap: int):
    """``musicnn.extractor.batch_data`` with the log compression in float32 (see module doc)."""
    import librosa
    from musicnn import configuration as config

    audio, sr = librosa.load(audio_file, sr=config.SR)
    audio_rep = librosa.feature.melspectrogram(
        y=audio, sr=sr, hop_length=config.FFT_HOP, n_fft=config.FFT_SIZE, n_mels=config.N_MELS
    ).T
    audio_rep = audio_rep.astype(np.float16).astype(np.float32)
    audio_rep = np.log10(10000 * audio_rep + 1)
    starts = range(0, audio_rep.shape[0] - n_frames + 1, overlap)
    batch = np.stack([audio_rep[t : t + n_frames] for t in starts])
    return batch, audio_rep


def _round(values: np.ndarray) -> list:
    """float32 values with 8 significant digits: exact enough, half the JSON of full repr."""
    return np.vectorize(lambda v: float(f"{v:.8g}"), otypes=[object])(values).tolist()


def _run(extractor, path: Path, with_embeddings: bool) -> dict[str, dict]:
    out = {}
    for model in MODELS:
        taggram, _, features = extractor.extractor(str(path), model=model, extract_features=True)
        entry = {
            "n_patches": len(taggram),
            "mean_tags": _round(taggram.mean(axis=0)),
            "taggram_head": _round(taggram[:HEAD_PATCHES]),
        }
        if with_embeddings:
            entry["embeddings_patch0"] = {k: _round(features[k][0]) for k in EMBEDDINGS}
        out[model] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--musicnn", type=Path, required=True, help="folder holding musicnn/")
    parser.add_argument("--out", type=Path, default=ROOT / "tests/fixtures/musicnn_golden.json")
    args = parser.parse_args()
    sys.path[:0] = [str(args.musicnn), str(ROOT / "src")]

    import librosa
    import soundfile as sf
    import tensorflow as tf
    from musicnn import configuration, extractor

    from genrelab import synth

    extractor.batch_data = _batch_data_float32_log
    y = synth.song(SYNTH["duration"], sr=SYNTH["sr"], style=SYNTH["style"], seed=SYNTH["seed"])
    clips: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "synthetic.wav"
        sf.write(wav, y, SYNTH["sr"], subtype="FLOAT")
        clips["synthetic"] = _run(extractor, wav, with_embeddings=True)
    for clip in REAL_CLIPS:
        path = GTZAN_DEV / clip.split(".")[0] / f"{clip}.wav"
        if path.exists():
            clips[clip] = _run(extractor, path, with_embeddings=False)
        else:
            print(f"skipping {clip}: {path} not found", file=sys.stderr)

    golden = {
        "about": "Outputs of the original musicnn 0.1.0 (TensorFlow); see tools/musicnn_golden.py",
        "versions": {
            "tensorflow": tf.__version__,
            "librosa": librosa.__version__,
            "numpy": np.__version__,
        },
        "synthetic": {**SYNTH, "sha256_float32": hashlib.sha256(y.tobytes()).hexdigest()},
        "tags": {"MSD_musicnn": configuration.MSD_LABELS, "MTT_musicnn": configuration.MTT_LABELS},
        "clips": clips,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(golden, indent=1)
    text = re.sub(r"\[([-+0-9.e,\s]+)\]", lambda m: f"[{' '.join(m[1].split())}]", text)
    args.out.write_text(text + "\n")  # one line per vector
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
