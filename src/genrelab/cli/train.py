"""``genrelab train`` and ``genrelab evaluate``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from genrelab.aggregate import AGGREGATE_HELP
from genrelab.atomic import write_json
from genrelab.cli.app import app
from genrelab.cli.common import (
    TrustBundle,
    TrustRemoteCode,
    allow_trust,
    err,
    out,
    parse_params,
)
from genrelab.errors import DataError, ModelError


def _progress(total: int | None = None) -> Any:
    """A transient bar on stderr: counted when ``total`` is known, else a spinner with the
    elapsed time (for one long call such as fitting a forest)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if total is None:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    else:
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
    return Progress(*columns, console=err, transient=True)


@contextmanager
def _working(description: str) -> Iterator[None]:
    """Show that a long step without countable parts is running."""
    with _progress() as bar:
        bar.add_task(description, total=None)
        yield


def _show_validation(validation: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title="validation")
    for col in ("protocol", "accuracy", "balanced acc.", "macro-F1"):
        table.add_column(col, justify="left" if col == "protocol" else "right")
    for entry in validation:
        m = entry["metrics"]

        def cell(key: str, m: dict[str, Any] = m) -> str:
            std = m.get(f"{key}_std")
            return f"{m[key]:.4f}" + (f" ± {std:.4f}" if std is not None else "")

        table.add_row(
            entry["protocol"], cell("accuracy"), cell("balanced_accuracy"), cell("macro_f1")
        )
    out.print(table)


@app.command()
def train(
    data: Annotated[
        str,
        typer.Option(help="Dataset: folder, GTZAN/FMA root, manifest or feature CSV (see docs)."),
    ],
    model: Annotated[
        str, typer.Option("--model", "-m", help="Registered model name (see 'genrelab models').")
    ] = "svm",
    split: Annotated[
        str, typer.Option(help="Protocol: random-80-10-10, kfold-10, gtzan-filtered or official.")
    ] = "random-80-10-10",
    output: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Bundle folder to write (default: models/<model>)."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Hyper-parameter NAME=VALUE (repeatable)."),
    ] = None,
    feature_set: Annotated[str, typer.Option(help="Feature set for feature models.")] = "gtzan57",
    window: Annotated[
        float | None,
        typer.Option(
            min=0.5,
            help="Window length in seconds (default: 30 for feature models, 3 for neural; "
            "hf: what the backbone sees, default its fixed input, else 10).",
        ),
    ] = None,
    hop: Annotated[
        float | None, typer.Option(min=0.1, help="Window hop in seconds (default: the window).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for splits and models.")] = 0,
    refit_all: Annotated[
        bool, typer.Option(help="After scoring, refit on every labelled track.")
    ] = False,
    jobs: Annotated[
        int, typer.Option(min=1, help="Parallel workers: feature extraction, or neural batches.")
    ] = 1,
    epochs: Annotated[int | None, typer.Option(min=1, help="Neural: training epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Neural: batch size.")] = None,
    lr: Annotated[float | None, typer.Option(min=0.0, help="Neural: peak learning rate.")] = None,
    device: Annotated[
        str | None, typer.Option(help="Neural: cpu, cuda, cuda:1... (default: a GPU if any).")
    ] = None,
    pretrained: Annotated[
        str | None,
        typer.Option(help="Image backbones: pretrained weights, e.g. microsoft/resnet-50."),
    ] = None,
    augment: Annotated[
        list[str] | None,
        typer.Option(
            help="Neural: augmentation NAME[:KEY=VALUE...] (repeatable), e.g. noise:snr_db=10..30."
        ),
    ] = None,
    frontend: Annotated[
        list[str] | None,
        typer.Option(help="Neural: front-end setting NAME=VALUE (repeatable), e.g. n_mels=64."),
    ] = None,
    windows_per_track: Annotated[
        int | None,
        typer.Option(min=1, help="Neural: random windows per track and epoch (default: fill it)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Neural: continue from <out>.checkpoint, left by a killed run.")
    ] = False,
    checkpoint_every: Annotated[
        int, typer.Option(min=0, help="Neural: also checkpoint every N optimiser steps.")
    ] = 50,
    embeddings: Annotated[
        str | None,
        typer.Option(
            help="Train a feature model on a backbone's embeddings: musicnn-msd, musicnn-mtt, "
            "or a Hugging Face id or folder."
        ),
    ] = None,
    skip_missing: Annotated[
        bool,
        typer.Option(
            "--skip-missing", help="Train without manifest rows whose files do not exist."
        ),
    ] = False,
) -> None:
    """Train a model and write a bundle with its validation metrics in the card."""
    from genrelab.models import model_class
    from genrelab.training import load_feature_data, missing_manifest_files
    from genrelab.training import train as fit

    params = parse_params(param)
    neural_options = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "device": device}
    params |= {k: v for k, v in neural_options.items() if v is not None}
    if pretrained:
        params["pretrained"] = pretrained
    target = output or Path("models") / model
    kind = model_class(model).input_kind  # unknown names fail before any audio work
    missing = missing_manifest_files(data, skip_missing)
    if missing:
        err.print(
            f"genrelab: skipping {len(missing)} manifest row(s) whose files do not exist "
            f"(--skip-missing), e.g. {missing[0]}",
            highlight=False,
            soft_wrap=True,
        )
    if kind != "features":
        from genrelab.neural.vision import image_folder

        if (images := image_folder(data)) is not None:
            options = (augment, resume, checkpoint_every)
            _train_images(images, data, model, params, split, seed, target, *options)
            return
        sr = 22050
        if kind == "hf":
            from genrelab.models import create_model

            if window is not None:  # the seconds the backbone sees per input
                params["window_s"] = window
            backbone = create_model(model, **params)
            backbone.window_samples()  # an unreachable backbone or too long a window fails now
            sr = backbone.sample_rate
        else:
            _check_audio_kind(model, kind)
        _train_neural(
            data,
            model,
            params,
            split,
            seed,
            window or 3.0,
            jobs,
            target,
            sr=sr,
            augment=augment,
            frontend=parse_params(frontend),
            windows_per_track=windows_per_track,
            resume=resume,
            checkpoint_every=checkpoint_every,
        )
        return
    elif embeddings:
        from genrelab.pretrained.embeddings import load_embedding_data

        dataset = load_embedding_data(
            data, embeddings, window_s=window or 30.0, hop_s=hop, n_jobs=jobs
        )
    else:
        dataset = load_feature_data(
            data, feature_set, window_s=window or 30.0, hop_s=hop, n_jobs=jobs
        )
    for path, message in dataset.errors:
        err.print(f"genrelab: skipped {path}: {message}", highlight=False, soft_wrap=True)
    with _working(f"training {model} on {len(dataset.X)} rows ({split})"):
        bundle = fit(dataset, model, params, protocol=split, seed=seed, refit_all=refit_all)
    target = bundle.save(target)
    _show_validation(bundle.card.validation)
    extra = _write_importances(bundle.model, bundle.card.frontend, target)
    out.print(f"bundle written to [bold]{target}[/bold]" + (f" ({extra})" if extra else ""))


def _write_importances(
    model: Any, frontend: dict[str, Any], folder: Path, saved: Path | None = None
) -> str:
    """``feature_importances.csv`` and ``.png`` for tree models (what ``compare`` draws);
    returns what was written, or an empty string for models without importances.

    A bundle loaded without its pickle (the default) has no fitted trees to ask, so the
    table ``train`` saved beside the bundle (``saved``) is used instead.
    """
    import pandas as pd

    from genrelab.atomic import atomic_path
    from genrelab.errors import GenrelabError
    from genrelab.evaluation.plots import plot_importances

    getter = getattr(model, "feature_importances", None)
    if getter is None:
        return ""
    try:
        importances = np.asarray(getter(), dtype=np.float64)
        if frontend.get("kind") == "features":
            from genrelab.features.sets import get_feature_set

            names = list(get_feature_set(frontend.get("feature_set", "gtzan57")).names)
        else:  # embeddings: their dimensions have no names
            names = [f"dim {i}" for i in range(importances.size)]
        table = pd.DataFrame({"feature": names, "importance": importances})
    except GenrelabError:
        if saved is None or not (saved / "feature_importances.csv").is_file():
            return ""
        table = pd.read_csv(saved / "feature_importances.csv")
    table = table.sort_values("importance", ascending=False, kind="stable")
    with atomic_path(folder / "feature_importances.csv") as tmp:
        table.to_csv(tmp, index=False)
    plot_importances(
        table["importance"].to_numpy(np.float64),
        table["feature"].tolist(),
        folder / "feature_importances.png",
    )
    return "feature importances: feature_importances.csv, feature_importances.png"


def _check_audio_kind(model: str, kind: str) -> None:
    from genrelab.features.spectrogram import KINDS

    if kind not in KINDS:
        raise ModelError(f"model {model!r} reads {kind!r} inputs, which 'train' cannot make yet")


def _train_neural(
    data: str,
    model: str,
    params: dict[str, Any],
    split: str,
    seed: int,
    window: float,
    jobs: int,
    target: Path,
    sr: int = 22050,
    **options: Any,
) -> None:
    """Window-level training with checkpoints in ``<out>.checkpoint`` (removed on success)."""
    from genrelab.augment import parse_augmentations
    from genrelab.neural.training import load_audio_data, train_on_audio

    params.setdefault("seed", seed)
    options["augment"] = parse_augmentations(options["augment"])  # typos fail before decoding
    with _working(f"decoding {data} at {sr} Hz"):
        dataset = load_audio_data(data, split, seed, sr)
    for path, message in dataset.errors:
        err.print(f"genrelab: skipped {path}: {message}", highlight=False, soft_wrap=True)
    checkpoints = _checkpoints(target, options["resume"])
    bundle = train_on_audio(
        dataset,
        model,
        params,
        window_s=window,
        checkpoint_dir=checkpoints,
        workers=jobs if jobs > 1 else 0,
        protocol=split,
        split_seed=seed,
        **options,
    )
    _finish_neural(bundle, target, checkpoints)


def _checkpoints(target: Path, resume: bool) -> Path:
    """The checkpoint folder of a bundle, ``<out>.checkpoint``, removed once training ends."""
    from genrelab.neural.trainer import CHECKPOINT

    checkpoints = target.with_name(target.name + ".checkpoint")
    if resume and not (checkpoints / CHECKPOINT).is_file():
        err.print(f"genrelab: no checkpoint in {checkpoints}; starting afresh", highlight=False)
    return checkpoints


def _finish_neural(bundle: Any, target: Path, checkpoints: Path) -> None:
    """Save the bundle with its curves, drop the checkpoints, show the scores."""
    import shutil

    from genrelab.neural.training import save_history

    target = bundle.save(target)
    save_history(bundle.model.history_, target)
    shutil.rmtree(checkpoints, ignore_errors=True)
    _show_validation(bundle.card.validation)
    out.print(f"bundle written to [bold]{target}[/bold] (curves: history.csv, curves.png)")


def _train_images(
    images: Any,
    data: str,
    model: str,
    params: dict[str, Any],
    split: str,
    seed: int,
    target: Path,
    augment: list[str] | None,
    resume: bool,
    checkpoint_every: int,
) -> None:
    """An image backbone on a folder of spectrogram images (``<genre>/*.png``)."""
    from genrelab.augment import parse_augmentations
    from genrelab.data import apply_split
    from genrelab.neural.vision import train_on_images
    from genrelab.protocols import parse_protocol

    parse_protocol(split).require_single_split("neural models train")
    params.setdefault("seed", seed)
    augmentation = parse_augmentations(augment)
    checkpoints = _checkpoints(target, resume)
    bundle, errors = train_on_images(
        apply_split(images, split, seed=seed),
        model,
        params,
        source=data,
        protocol=split,
        split_seed=seed,
        augment=augmentation,
        checkpoint_dir=checkpoints,
        checkpoint_every=checkpoint_every,
        resume=resume,
    )
    for path, message in errors:
        err.print(f"genrelab: skipped {path}: {message}", highlight=False, soft_wrap=True)
    _finish_neural(bundle, target, checkpoints)


@app.command()
def evaluate(
    bundle: Annotated[str, typer.Argument(help="Model bundle folder, or 'default'.")],
    data: Annotated[str, typer.Option(help="Labelled dataset to score on.")],
    split: Annotated[
        str,
        typer.Option(
            help="Which rows: a split name (train/valid/test), a protocol's test part, or 'all'."
        ),
    ] = "all",
    protocol: Annotated[
        str | None,
        typer.Option(help="Assign splits with this protocol first (e.g. gtzan-filtered)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--out", "-o", help="Folder for metrics.json and confusion.png.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for --protocol.")] = 0,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="Score the model answering over these labels only (a list or a preset such "
            "as gtzan); rows labelled otherwise are skipped.",
            show_default=False,
        ),
    ] = None,
    include_seen: Annotated[
        bool,
        typer.Option(
            "--include-seen",
            help="Also score the rows the model was fitted on (left out by default).",
        ),
    ] = False,
    aggregate: Annotated[str, typer.Option(help=AGGREGATE_HELP)] = "mean",
    trust_bundle: TrustBundle = False,
    trust_remote_code: TrustRemoteCode = False,
) -> None:
    """Score a bundle on labelled data: accuracy, balanced accuracy, macro-F1, per class.

    Rows the model was fitted on (its card's training.fitted_ids) are left out and counted.
    """
    from genrelab.aggregate import parse_aggregate
    from genrelab.data import apply_split, load_dataset
    from genrelab.data.fitted import drop_seen
    from genrelab.evaluation.metrics import classification_metrics, format_metrics_table
    from genrelab.evaluation.plots import plot_confusion
    from genrelab.labels import restrict
    from genrelab.models import load_bundle
    from genrelab.pipeline import Classifier
    from genrelab.training import table_features

    parse_aggregate(aggregate)
    allow_trust(trust_bundle, trust_remote_code)
    loaded = load_bundle(bundle)
    card = loaded.card
    images = card.frontend.get("kind") == "image"
    if images:
        from genrelab.neural.vision import image_folder

        if labels is not None:
            raise DataError("--labels needs an audio model; this bundle reads images")
        df = image_folder(data)
        if df is None:
            raise DataError(f"{data}: no <genre>/<image> files to score this image model on")
        answer_labels = list(card.labels)
    else:
        classifier = Classifier(loaded, labels=labels)
        answer_labels = classifier.labels
        df = load_dataset(data)
    if protocol:
        df = apply_split(df, protocol, seed=seed)
    if split != "all":
        df = df[df["split"] == split]
        if df.empty:
            raise DataError(f"{data}: no rows in split {split!r}")
    if labels is not None:
        outside = ~df["label"].isin(answer_labels)
        if outside.any():
            err.print(
                f"skipped {int(outside.sum())} rows labelled outside --labels "
                f"({', '.join(sorted(set(df['label'][outside])))})",
                highlight=False,
                soft_wrap=True,
            )
            df = df[~outside]
        if df.empty:
            raise DataError(f"{data}: no rows labelled with any of {', '.join(answer_labels)}")
    if aggregate != "mean" and table_features(df):
        raise DataError(f"{data} is a feature table, one row per track: --aggregate needs audio")
    df, seen, note = drop_seen(df, card.training, include_seen)
    if note:
        err.print(f"genrelab: {note}", highlight=False, soft_wrap=True)
    if images:
        from genrelab.neural.vision import predict_images

        predicted, ok, errors = predict_images(loaded, df["path"].tolist())
        for path, message in errors:
            err.print(f"genrelab: skipped {path}: {message}", highlight=False, soft_wrap=True)
        if not ok:
            raise DataError("no image could be read")
        truth = df["label"].to_numpy(str)[ok]
    elif table_features(df):
        from genrelab.experiments.ensemble import table_proba

        proba = restrict(table_proba(loaded, df, str(data)), classifier.pipelines[0].columns)
        predicted = np.asarray(answer_labels)[np.argmax(proba, axis=1)]
        truth = df["label"].to_numpy(str)
    else:
        with _progress(len(df)) as bar:
            task = bar.add_task("classifying", total=len(df))
            results = list(
                classifier.classify_many(
                    df["path"].tolist(), aggregate, False, lambda _: bar.advance(task)
                )
            )
        ok = [i for i, r in enumerate(results) if r.ok]
        for r in results:
            if not r.ok:
                err.print(f"genrelab: {r.error}", highlight=False, soft_wrap=True)
        if not ok:
            raise DataError("no file could be classified")
        predicted = np.array([results[i].genre for i in ok])
        truth = df["label"].to_numpy(str)[ok]
    scored = sorted(set(answer_labels) | set(truth))
    metrics = classification_metrics(truth, predicted, scored)
    metrics.update({"bundle": str(bundle), "data": data, "split": split, "protocol": protocol})
    metrics.update({"seen_rows": seen, "include_seen": include_seen, "aggregate": aggregate})
    out.print(format_metrics_table(metrics))
    folder = output or Path(f"eval-{Path(str(bundle)).name}")
    write_json(folder / "metrics.json", metrics)
    plot_confusion(
        metrics["confusion_matrix"],
        scored,
        folder / "confusion.png",
        title=f"{Path(str(bundle)).name} on {split}",
    )
    extra = _write_importances(loaded.model, card.frontend, folder, Path(str(bundle)))
    out.print(
        f"metrics and confusion matrix written to [bold]{folder}[/bold]"
        + (f" ({extra})" if extra else "")
    )
