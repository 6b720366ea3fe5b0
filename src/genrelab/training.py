"""Train a registered model on a dataset under a named validation protocol, into a bundle.

Audio datasets are cut into windows and featurised; every window carries its track's
``group`` so splits never put windows of one track on both sides, and scores are reported
per track by aggregating its windows, the way ``classify`` answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from genrelab.data.fitted import FITTED_KEY, record, row_ids
from genrelab.errors import DataError
from genrelab.evaluation.metrics import classification_metrics, summarize_folds
from genrelab.models.base import GenreModel, create_model
from genrelab.models.bundle import Bundle, ModelCard
from genrelab.protocols import Protocol, parse_protocol


@dataclass
class FeatureData:
    """Model inputs with one row per window, and the track each window came from."""

    X: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    tracks: pd.DataFrame  # one row per track: group, label, split (and path)
    frontend: dict[str, Any]
    sample_rate: int
    windowing: dict[str, float]
    source: str
    errors: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class AudioData:
    """Decoded tracks with their label, group and split, at one sample rate (for models that
    train on audio windows)."""

    tracks: pd.DataFrame  # path, label, group, split
    audio: list[np.ndarray]
    sr: int
    source: str
    errors: list[tuple[str, str]] = field(default_factory=list)

    def part(self, split: str, min_samples: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
        """Audio and labels of one split's tracks that are at least ``min_samples`` long."""
        long_enough = np.array([a.size >= min_samples for a in self.audio])
        keep = (self.tracks["split"] == split).to_numpy() & long_enough
        audio = [a for a, k in zip(self.audio, keep, strict=True) if k]
        return audio, self.tracks.loc[keep, "label"].to_numpy(str)


def decode_tracks(df: pd.DataFrame, source: str, sr: int = 22050) -> AudioData:
    """Decode every track of a dataset table once; undecodable files are recorded, not fatal."""
    from genrelab.audio import load
    from genrelab.errors import AudioError

    audio, kept, errors = [], [], []
    for i, path in enumerate(df["path"]):
        try:
            audio.append(load(path, sr=sr)[0])
            kept.append(i)
        except AudioError as err:
            errors.append((str(path), str(err)))
    if not kept:
        raise DataError(f"{source}: no file could be decoded ({len(errors)} errors)")
    tracks = df.iloc[kept][["path", "label", "group", "split"]].reset_index(drop=True)
    tracks["group"] = tracks["group"].astype(str)
    return AudioData(tracks, audio, sr, str(source), errors)


def table_features(df: pd.DataFrame) -> list[str]:
    """The feature columns of a precomputed feature table; empty for an audio dataset."""
    from genrelab.data import feature_columns

    return feature_columns(df) if not df.empty and (df["path"] == "").all() else []


def load_feature_data(
    spec: str,
    feature_set: str = "gtzan57",
    window_s: float | None = 30.0,
    hop_s: float | None = None,
    sr: int = 22050,
    cache_dir: str | None = None,
    n_jobs: int = 1,
) -> FeatureData:
    """Featurise a dataset spec (audio folder, manifest, FMA, or a Kaggle feature table)."""
    from genrelab.data import load_dataset

    df = load_dataset(spec)
    require_classes(df["label"], str(spec))  # before any audio work
    columns = table_features(df)
    if columns:
        # A precomputed table: each row is a whole clip (30 s in the Kaggle table).
        from genrelab.features.sets import get_feature_set

        names = list(get_feature_set(feature_set).names)
        if columns != names:
            raise DataError(f"{spec}: its feature columns are not the {feature_set!r} set")
        groups = df["group"].astype(str).to_numpy()
        tracks = df.drop_duplicates("group")[["group", "label", "split"]].reset_index(drop=True)
        return FeatureData(
            X=df[columns].to_numpy(np.float64),
            labels=df["label"].astype(str).to_numpy(),
            groups=groups,
            tracks=tracks,
            frontend={"kind": "features", "feature_set": feature_set},
            sample_rate=22050,
            windowing={"window_s": 30.0, "hop_s": 30.0, "min_s": 3.0},
            source=str(spec),
        )
    from genrelab.features import FeatureCache, extract_dataset

    cache = FeatureCache(cache_dir) if cache_dir else FeatureCache()
    hop_s = hop_s or window_s
    per_file, errors = extract_dataset(
        df["path"].tolist(),
        feature_set,
        window_s=window_s,
        hop_s=hop_s,
        sr=sr,
        cache=cache,
        n_jobs=n_jobs,
    )
    X_parts, label_parts, group_parts, kept = [], [], [], []
    for (_, row), feats in zip(df.iterrows(), per_file, strict=True):
        if feats is None or len(feats) == 0:
            continue
        kept.append(row.name)
        X_parts.append(feats)
        label_parts += [row["label"]] * len(feats)
        group_parts += [row["group"]] * len(feats)
    if not X_parts:
        raise DataError(f"{spec}: no file could be featurised ({len(errors)} errors)")
    tracks = df.loc[kept, ["group", "label", "split", "path"]].reset_index(drop=True)
    return FeatureData(
        X=np.concatenate(X_parts),
        labels=np.asarray(label_parts, dtype=str),
        groups=np.asarray(group_parts, dtype=str),
        tracks=tracks,
        frontend={"kind": "features", "feature_set": feature_set},
        sample_rate=sr,
        windowing={
            "window_s": float(window_s or 30.0),
            "hop_s": float(hop_s or 30.0),
            "min_s": min(3.0, float(window_s or 3.0)),
        },
        source=str(spec),
        errors=errors,
    )


def track_predictions(
    model: GenreModel, X: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean window probabilities per track: ``(track ids, predicted labels)``."""
    proba = model.predict_proba(X)
    frame = pd.DataFrame(proba).groupby(groups, sort=False).mean()
    return frame.index.to_numpy(), model.classes_[np.argmax(frame.to_numpy(), axis=1)]


def _score(
    model: GenreModel, data: FeatureData, mask: np.ndarray, labels: list[str]
) -> dict[str, Any]:
    tracks, predicted = track_predictions(model, data.X[mask], data.groups[mask])
    truth = data.tracks.set_index("group").loc[tracks, "label"].to_numpy()
    return classification_metrics(truth, predicted, labels)


def _splits_for(data: FeatureData, protocol: str, seed: int) -> pd.Series:
    """Split name per track group for a single-split protocol."""
    from genrelab.data.splits import apply_split

    tracks = apply_split(data.tracks.copy(), protocol, seed=seed)
    return tracks.set_index("group")["split"].fillna("")


#: How many missing paths an error message quotes.
_QUOTED = 3


def require_classes(labels: Any, source: str) -> None:
    """Refuse to fit a classifier on fewer than 2 genres (it would learn nothing, and report
    accuracy 1.0 for it)."""
    classes = sorted({str(label) for label in labels})
    if len(classes) < 2:
        found = f"only {classes[0]!r}" if classes else "none"
        raise DataError(f"{source}: training needs at least 2 genres, found {found}")


def missing_manifest_files(spec: str, skip_missing: bool) -> list[str]:
    """Files a CSV manifest lists that do not exist: an error naming the count and the first
    ones, or (``skip_missing``) the list, for the caller to report; the loaders leave them out.
    """
    if not (spec.lower().endswith(".csv") and Path(spec).is_file()):
        return []
    from genrelab.data import load_dataset

    skipped = load_dataset(spec).attrs.get("skipped", [])
    missing = [path for path, problem in skipped if problem == "missing file"]
    if missing and not skip_missing:
        shown = ", ".join(missing[:_QUOTED]) + (", ..." if len(missing) > _QUOTED else "")
        raise DataError(
            f"{spec}: {len(missing)} listed file(s) do not exist ({shown}); fix the paths or "
            "pass --skip-missing to train without them"
        )
    return missing


def train(
    data: FeatureData,
    model_name: str,
    params: dict[str, Any] | None = None,
    protocol: str = "random-80-10-10",
    seed: int = 0,
    refit_all: bool = False,
    fit_on: tuple[str, ...] = ("train",),
) -> Bundle:
    """Fit ``model_name`` and record the protocol's metrics in the card.

    Single-split protocols fit on the ``fit_on`` splits and report the others (``valid``,
    ``test``); ``kfold-K`` reports mean ± std over folds, then fits the bundle on all rows.
    ``refit_all`` refits on every labelled row after a single-split evaluation (for a model
    to ship, once its numbers are recorded).
    """
    params = dict(params or {})
    parsed = parse_protocol(protocol)
    if parsed.rows or not (parsed.kfold or parsed.single_split):
        raise DataError(
            "training takes kfold-K or a single split (random-A-B-C, gtzan-filtered or "
            f"official), not {parsed.name!r}"
        )
    require_classes(data.labels, data.source)
    labels = sorted(set(data.labels))
    validation: list[dict[str, Any]] = []
    if parsed.kfold:
        validation.append(_kfold_validation(data, model_name, params, parsed, seed, labels))
        final, fit_mask = None, np.ones(len(data.labels), dtype=bool)
    else:
        row_split = _splits_for(data, protocol, seed).reindex(data.groups).fillna("").to_numpy()
        fit_mask = np.isin(row_split, fit_on)
        if not fit_mask.any():
            raise DataError(f"protocol {protocol!r} left no rows in {'+'.join(fit_on)}")
        require_classes(data.labels[fit_mask], f"{data.source} ({'+'.join(fit_on)} split)")
        final = create_model(model_name, **params).fit(data.X[fit_mask], data.labels[fit_mask])
        for part in ("valid", "test"):
            mask = row_split == part
            if part not in fit_on and mask.any():
                validation.append(
                    {
                        "protocol": f"{protocol} (seed {seed}): trained on {'+'.join(fit_on)}, scored on {part}",
                        "split": part,
                        "metrics": _score(final, data, mask, labels),
                    }
                )
        if refit_all:
            final, fit_mask = None, row_split != ""
    if final is None:
        final = create_model(model_name, **params).fit(data.X[fit_mask], data.labels[fit_mask])
    counts = pd.Series(data.labels[fit_mask]).value_counts().sort_index()
    card = ModelCard(
        model=model_name,
        params=final.get_params(),
        labels=[str(c) for c in final.classes_],
        sample_rate=data.sample_rate,
        frontend=data.frontend,
        windowing=data.windowing,
        training={
            "data": data.source,
            "rows": int(fit_mask.sum()),
            "tracks": len(set(data.groups[fit_mask])),
            "class_counts": {str(k): int(v) for k, v in counts.items()},
            "protocol": protocol,
            "seed": seed,
            "fit_on": "all labelled rows" if fit_mask.all() or refit_all else "+".join(fit_on),
            FITTED_KEY: fitted_of(data, fit_mask),
        },
        validation=validation,
    )
    return Bundle(card, final)


def fitted_of(data: FeatureData, rows: np.ndarray) -> list[str]:
    """The card's ``fitted_ids``: the recordings of the rows a model was fitted on."""
    ids = dict(zip(data.tracks["group"], row_ids(data.tracks), strict=True))
    return record(ids[g] for g in set(data.groups[rows]))


def _kfold_validation(
    data: FeatureData,
    model_name: str,
    params: dict[str, Any],
    protocol: Protocol,
    seed: int,
    labels: list[str],
) -> dict[str, Any]:
    from genrelab.data.splits import kfold

    folds = []
    for train_idx, test_idx in kfold(data.tracks, k=protocol.k, seed=seed):
        in_train = np.isin(data.groups, data.tracks["group"].iloc[train_idx].to_numpy())
        model = create_model(model_name, **params).fit(data.X[in_train], data.labels[in_train])
        in_test = np.isin(data.groups, data.tracks["group"].iloc[test_idx].to_numpy())
        folds.append(_score(model, data, in_test, labels))
    return {
        "protocol": f"{protocol.name} (stratified, group-aware, seed {seed})",
        "metrics": summarize_folds(folds),
    }
