"""What both musicnn backends share: the model names, their inputs and outputs, their tags.

Its own module so that the ONNX runner (:mod:`genrelab.pretrained.musicnn_onnx`) and the
PyTorch port (:mod:`genrelab.pretrained.musicnn`) both depend on it and not on each other.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path

from genrelab.errors import ModelError

MODELS = ("MSD_musicnn", "MTT_musicnn")
#: What both backends return per patch: sigmoid tag probabilities, then the embeddings.
OUTPUTS = ("taggram", "penultimate", "mean_pool", "max_pool")
EMBEDDINGS = OUTPUTS[1:]
#: Mel bands of the log-mel patches both backends read.
N_MELS = 96


def resource_dir() -> Path:
    """Folder of the converted weights, ONNX graphs, tag lists and the musicnn licence."""
    return Path(str(files("genrelab") / "resources" / "musicnn"))


@cache
def tag_names(model: str) -> list[str]:
    """The 50 tags of ``model``, in the order of the taggram's columns."""
    check_model(model)
    return json.loads((resource_dir() / "tags.json").read_text())[model]


def check_model(model: str) -> None:
    if model not in MODELS:
        raise ModelError(f"unknown musicnn model {model!r}; choose one of {', '.join(MODELS)}")
