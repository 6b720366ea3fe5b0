"""The names a user types (models, front ends, augmentations, feature sets), each with one line.

The registries hold the names; this module holds the words. Names registered by plugins or
added later without a line here still list, with their docstring's first line (read from the
source for lazily registered models, so listing never imports torch).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
from collections.abc import Callable

KINDS = ("models", "frontends", "augmentations", "feature-sets")

MODEL_LINES = {
    "knn": "k-nearest neighbours on standardised feature vectors",
    "logreg": "logistic regression on standardised feature vectors (or embeddings)",
    "svm": "RBF SVM, probabilities temperature-scaled on internal folds",
    "random_forest": "random forest on feature vectors",
    "xgboost": "gradient-boosted trees (XGBoost) on feature vectors",
    "soft_vote": "weighted mean of feature models' probabilities (default: SVM + XGBoost)",
    "column_stack": "product of experts, each member on its own block of columns",
    "bundle_ensemble": "ensemble of whole bundles (built by 'genrelab ensemble')",
    "mlp": "feed-forward network on feature vectors",
    "mlp_spec": "feed-forward network on a flattened small mel spectrogram",
    "cnn": "3 conv blocks on mel spectrograms",
    "resnet_cnn": "residual CNN on mel spectrograms",
    "crnn": "convolutions then a bidirectional GRU over time",
    "lstm": "LSTM over MFCC (or mel) frames",
    "gru": "GRU over MFCC (or mel) frames",
    "samplecnn": "SampleCNN on raw waveforms",
    "wavenet": "dilated gated convolutions on raw waveforms",
    "image_resnet": "ResNet image backbone on spectrograms (--pretrained for weights)",
    "image_convnext": "ConvNeXt image backbone on spectrograms",
    "image_efficientnet": "EfficientNet image backbone on spectrograms",
    "image_vit": "Vision Transformer on spectrograms",
    "hf": "Hugging Face audio backbone (-p backbone=...): frozen, full, LoRA or DoRA",
    "ast_dora": "frozen AST with an MLP head and DoRA adapters from layer 10",
}

FRONTEND_LINES = {
    "features": "handcrafted feature vector per window (feature_set=gtzan57|extended)",
    "melspec": "log-mel spectrogram",
    "logspec": "log-frequency (constant-Q) spectrogram",
    "stft": "linear-frequency STFT magnitude",
    "mfcc": "MFCC frames",
    "waveform": "raw samples",
    "musicnn": "pooled musicnn (MSD/MTT) embeddings and tags (onnxruntime)",
    "hf": "Hugging Face backbone embeddings, or padded waveforms for fine-tuned models",
    "raw_windows": "audio windows passed to each member of a bundle ensemble",
}

AUGMENTATION_LINES = {
    "noise": "additive white/pink/brown noise at a signal-to-noise ratio",
    "gain": "louder or quieter by a number of dB",
    "pitch_shift": "transpose by semitones, same length (Rubber Band)",
    "tempo": "faster or slower, same pitch",
    "lowpass": "Butterworth low-pass at a random cut-off",
    "highpass": "Butterworth high-pass at a random cut-off",
    "bandpass": "keep a band of octaves around a random centre",
    "bandstop": "remove a band of octaves around a random centre",
    "echo": "delay line with feedback",
    "reverb": "room reverb",
    "bundle": "a random chain of 1-3 of the above, default ranges",
    "specaugment": "frequency and time masks on spectrogram inputs (batch)",
    "mixup": "mix pairs of examples and their labels (batch)",
}


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ").strip()


def _static_doc(target: str) -> str:
    """A lazily registered class's docstring, read from its source without importing it."""
    module, _, name = target.partition(":")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return _first_line(ast.get_docstring(node))
    return ""


def models() -> list[tuple[str, str]]:
    from genrelab.models import available_models
    from genrelab.models.base import _REGISTRY

    def line(name: str) -> str:
        if name in MODEL_LINES:
            return MODEL_LINES[name]
        entry = _REGISTRY[name]
        return _static_doc(entry) if isinstance(entry, str) else _first_line(entry.__doc__)

    return [(name, line(name)) for name in available_models()]


def frontends() -> list[tuple[str, str]]:
    from genrelab.features.frontends import _FRONTENDS, _LAZY

    names = sorted({*_FRONTENDS, *_LAZY})
    return [
        (n, FRONTEND_LINES.get(n) or _first_line(getattr(_FRONTENDS.get(n), "__doc__", "")))
        for n in names
    ]


def _settings(cls: type) -> str:
    """``KEY=DEFAULT`` for each setting, ranges written ``LOW..HIGH`` as on the command line."""

    def text(value: object) -> str:
        if isinstance(value, tuple):
            return "..".join(f"{v:g}" for v in value)
        return str(value)

    return " ".join(f"{f.name}={text(f.default)}" for f in dataclasses.fields(cls))


def augmentations() -> list[tuple[str, str]]:
    from genrelab.augment import BATCH_NAMES, WAVE_NAMES
    from genrelab.augment.waveform import WAVE_AUGMENTATIONS

    classes: dict[str, type | None] = dict(WAVE_AUGMENTATIONS)
    try:
        from genrelab.augment.batch import BATCH_AUGMENTATIONS
    except ImportError:  # torch missing: names without their settings
        BATCH_AUGMENTATIONS = {}
    for name in BATCH_NAMES:
        classes[name] = BATCH_AUGMENTATIONS.get(name)
    rows = []
    for name in (*WAVE_NAMES, *BATCH_NAMES):
        cls = classes[name]
        line = AUGMENTATION_LINES.get(name) or _first_line(getattr(cls, "__doc__", ""))
        rows.append((name, f"{line} [{_settings(cls)}]" if cls is not None else line))
    return rows


def feature_sets() -> list[tuple[str, str]]:
    from genrelab.features.sets import available_feature_sets, get_feature_set

    rows = []
    for name in available_feature_sets():
        fs = get_feature_set(name)
        rows.append((name, f"{fs.description} ({len(fs.names)} values)"))
    return rows


LISTERS: dict[str, Callable[[], list[tuple[str, str]]]] = {
    "models": models,
    "frontends": frontends,
    "augmentations": augmentations,
    "feature-sets": feature_sets,
}
