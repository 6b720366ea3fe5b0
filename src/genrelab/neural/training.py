"""Train a neural model on an audio dataset, window by window, into a standard bundle.

Tracks are decoded once and held in memory (float32: about 2.6 GB for the 1,000 GTZAN clips),
split by track group (windows of one track never cross splits), and cut into seeded random
windows every epoch. Scores are per track: every window of a track goes through the same
:class:`~genrelab.pipeline.Pipeline` that ``genrelab classify`` uses, and the mean
probability decides, so the card's numbers are what users will get.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from genrelab.atomic import atomic_path
from genrelab.augment import Augmentation
from genrelab.data.fitted import FITTED_KEY, record, row_ids
from genrelab.errors import DataError
from genrelab.models.bundle import Bundle, ModelCard
from genrelab.protocols import parse_protocol
from genrelab.training import AudioData, decode_tracks, require_classes

if TYPE_CHECKING:
    from genrelab.pipeline import Pipeline

#: Windows per training track used to fit the input standardisation.
STATS_WINDOWS_PER_TRACK = 4
#: A bundle accepts audio down to this length (or its window, if shorter), zero-padding it.
MIN_AUDIO_S = 3.0


def load_audio_data(spec: str, protocol: str, seed: int, sr: int = 22050) -> AudioData:
    """Load a dataset spec, assign a single-split protocol, decode every track once."""
    from genrelab.data import apply_split, load_dataset

    parse_protocol(protocol).require_single_split("neural models train")
    df = load_dataset(spec)
    if (df["path"] == "").all():
        raise DataError(f"{spec} is a feature table; neural models train on audio")
    df = apply_split(df, protocol, seed=seed)
    return decode_tracks(df[df["split"] != ""].reset_index(drop=True), spec, sr)


def window_inputs(pipeline: Pipeline, y: np.ndarray) -> np.ndarray:
    """Front-end inputs of every window ``classify`` would cut from ``y``."""
    spans = pipeline.windowing.spans(y.size)
    return pipeline.features([w.take(y) for w in spans], len(spans))


def track_metrics(
    pipeline: Pipeline, audio: list[np.ndarray], labels: np.ndarray
) -> dict[str, Any]:
    """Per-track accuracy, balanced accuracy and macro-F1, answering as ``classify`` does."""
    from genrelab.evaluation.metrics import classification_metrics

    predicted = [pipeline.classify(y, pipeline.sr, tags=False).genre for y in audio]
    return classification_metrics(labels, predicted, sorted(set(pipeline.labels) | set(labels)))


def train_on_audio(
    data: AudioData,
    model_name: str,
    params: dict[str, Any] | None = None,
    *,
    window_s: float = 3.0,
    windows_per_track: int | None = None,
    frontend: dict[str, Any] | None = None,
    augment: Augmentation | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    workers: int = 0,
    progress: bool = True,
    protocol: str = "",
    split_seed: int = 0,
) -> Bundle:
    """Fit ``model_name`` on the ``train`` tracks, validating per epoch on ``valid``.

    ``windows_per_track`` random windows of each track make one epoch (default: as many as
    fit in the median track). A model with its own ``frontend_spec()`` (Hugging Face
    backbones) sets the window itself (its ``window_s``) and needs ``data`` at its rate. The card records valid/test (and train) per-track metrics.
    """
    from genrelab.models import create_model, model_class
    from genrelab.neural.data import WindowBatches
    from genrelab.neural.trainer import Trainer
    from genrelab.pipeline import Pipeline

    cls = model_class(model_name)
    model = create_model(model_name, **(params or {}))
    if hasattr(model, "frontend_spec"):
        # A pretrained backbone fixes its input (rate, length) through its own window_s.
        if frontend:
            raise DataError(f"{model_name} models take no --frontend: the backbone reads audio")
        spec, windowing = model.frontend_spec(), model.windowing()
        window_s = windowing["window_s"]
        if data.sr != spec["sample_rate"]:
            raise DataError(f"decode the audio at {spec['sample_rate']} Hz for this backbone")
    else:
        frontend = dict(frontend or {})
        kind = frontend.pop("kind", cls.input_kind)  # another kind starts from its own defaults
        defaults = cls.frontend_defaults if kind == cls.input_kind else {}
        spec = {"kind": kind, **defaults, **frontend, "duration": window_s}
        windowing = {"window_s": window_s, "hop_s": window_s, "min_s": min(window_s, MIN_AUDIO_S)}
    min_samples = round(windowing["min_s"] * data.sr)
    train_audio, train_labels = data.part("train", min_samples)
    if not train_audio:
        raise DataError(f"{data.source}: the {protocol or 'chosen'} split left no training track")
    require_classes(train_labels, f"{data.source} (train split)")
    classes = sorted(set(train_labels))
    card = ModelCard(
        model=model_name,
        params={},
        labels=classes,
        sample_rate=data.sr,
        frontend=spec,
        windowing=windowing,
    )
    pipeline = Pipeline(Bundle(card, model))
    model.setup(classes, _stats_sample(pipeline, train_audio))
    augmentation = augment or Augmentation()
    if augmentation.batch is not None:
        augmentation.batch.check(model.input_shape_)
    if windows_per_track is None:
        median_s = float(np.median([a.size for a in train_audio])) / data.sr
        windows_per_track = max(1, math.floor(median_s / window_s))
    batches = WindowBatches(
        train_audio,
        model.encode_labels(train_labels),
        data.sr,
        window_s,
        pipeline.frontend,
        model.batch_size,
        model.seed,
        windows_per_track,
        augmentation.wave,
        augmentation.context,
    )
    valid = _validation_set(pipeline, model, *data.part("valid", min_samples))
    started = time.perf_counter()
    trainer = Trainer(
        model,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        resume=resume,
        augment=augmentation.batch,
        workers=workers,
        progress=progress,
    )
    history = trainer.fit(batches, valid)
    card.params = model.get_params()
    card.training = {
        "data": data.source,
        "protocol": protocol,
        "seed": split_seed,
        "tracks": len(train_audio),
        FITTED_KEY: record(row_ids(data.tracks[data.tracks["split"] == "train"])),
        "class_counts": {str(k): int(v) for k, v in pd.Series(train_labels).value_counts().items()},
        "windows_per_epoch": len(train_audio) * windows_per_track,
        "epochs_run": len(history),
        "best_epoch": _best_epoch(history, model.monitor),
        "augment": augmentation.specs,
        "device": str(model.torch_device),
        "seconds": round(time.perf_counter() - started, 1),
    }
    card.validation = _validation(pipeline, data, min_samples, protocol, split_seed)
    return Bundle(card, model)


def _stats_sample(pipeline: Pipeline, audio: list[np.ndarray]) -> np.ndarray:
    rows = []
    for y in audio:
        inputs = window_inputs(pipeline, y)
        pick = np.linspace(0, len(inputs) - 1, min(len(inputs), STATS_WINDOWS_PER_TRACK))
        rows.append(inputs[np.unique(pick.round().astype(int))])
    return np.concatenate(rows)


def _validation_set(
    pipeline: Pipeline, model: Any, audio: list[np.ndarray], labels: np.ndarray
) -> Any:
    from genrelab.neural.data import ValidationSet

    known = np.isin(labels, model.classes_)
    if not known.any():
        return None
    inputs = [window_inputs(pipeline, y) for y, k in zip(audio, known, strict=True) if k]
    groups = np.repeat(np.arange(len(inputs)), [len(x) for x in inputs])
    encoded = model.encode_labels(labels[known])
    return ValidationSet(np.concatenate(inputs), encoded[groups], groups)


def _best_epoch(history: list[dict[str, float]], monitor: str) -> int | None:
    key = f"valid_{monitor}"
    if not history or key not in history[0]:
        return None
    scores = [row[key] for row in history]
    return int(np.argmin(scores) if monitor == "loss" else np.argmax(scores)) + 1


def _validation(
    pipeline: Pipeline, data: AudioData, min_samples: int, protocol: str, seed: int
) -> list[dict[str, Any]]:
    entries = []
    for part in ("valid", "test", "train"):
        audio, labels = data.part(part, min_samples)
        if not audio:
            continue
        entries.append(
            {
                "protocol": f"{protocol} (seed {seed}): trained on train, scored on {part}",
                "split": part,
                "metrics": track_metrics(pipeline, audio, labels),
            }
        )
    return entries


def save_history(history: list[dict[str, float]], folder: Path) -> list[Path]:
    """Write ``history.csv`` and ``curves.png`` (loss and accuracy per epoch) into ``folder``."""
    from genrelab.evaluation.plots import plot_curves

    frame = pd.DataFrame(history)
    csv = folder / "history.csv"
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False)
    return [csv, plot_curves(frame, folder / "curves.png")]
