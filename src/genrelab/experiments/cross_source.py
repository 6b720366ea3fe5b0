"""Cross-source evaluation: fit on some sources, score on others, per source and per class.

A model that learns one dataset's recordings, decades and artists rather than genre scores
well under any split of that dataset and badly on music from elsewhere. This protocol makes
that visible: each test source is scored by models that never saw it. When a test source is
also a training source, it is scored by leave-group-out cross-validation over its groups
(its manifest's ``group`` column: the artist for emotify-dev, ``<genre>-a<id // 10>`` for
GTZAN ids, which run by artist), so no artist is on both sides. Files labelled with a genre
the model does not have are counted and reported, not scored. The headline is the worst
source's accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from genrelab.errors import DataError
from genrelab.evaluation.metrics import classification_metrics

PROTOCOL = "cross-source"


@dataclass
class Source:
    """One dataset's files: their window rows, label and group (artist or track)."""

    name: str
    rows: list[np.ndarray]
    labels: np.ndarray
    groups: np.ndarray
    paths: list[str]
    errors: list[tuple[str, str]]


def load_source(
    spec: str,
    feature_set: str = "gtzan57",
    window_s: float | None = 30.0,
    hop_s: float | None = None,
    n_jobs: int = 1,
) -> Source:
    """Featurise a dataset keeping one entry per file (a feature table: one row per file)."""
    from genrelab.data import load_dataset
    from genrelab.features import FeatureCache, extract_dataset
    from genrelab.training import table_features

    df = load_dataset(spec)
    columns = table_features(df)
    if columns:
        rows = [r[None, :] for r in df[columns].to_numpy(np.float64)]
        paths = df.get("path", df["group"]).astype(str).tolist()
        return Source(spec, rows, df["label"].astype(str).to_numpy(), _groups(df), paths, [])
    per_file, errors = extract_dataset(
        df["path"].tolist(),
        feature_set,
        window_s=window_s,
        hop_s=hop_s or window_s,
        cache=FeatureCache(),
        n_jobs=n_jobs,
    )
    keep = [i for i, f in enumerate(per_file) if f is not None and len(f)]
    if not keep:
        raise DataError(f"{spec}: no file could be featurised ({len(errors)} errors)")
    df = df.iloc[keep].reset_index(drop=True)
    rows = [per_file[i] for i in keep]
    return Source(
        spec, rows, df["label"].astype(str).to_numpy(), _groups(df), df["path"].tolist(), errors
    )


def _groups(df: Any) -> np.ndarray:
    return df["group"].astype(str).to_numpy() if "group" in df else df.index.astype(str).to_numpy()


def _stack(sources: Sequence[Source], masks: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    X, y = [], []
    for source, mask in zip(sources, masks, strict=True):
        for i in np.flatnonzero(mask):
            X.append(source.rows[i])
            y += [source.labels[i]] * len(source.rows[i])
    return np.concatenate(X), np.asarray(y)


def _predict(model: Any, source: Source, mask: np.ndarray) -> np.ndarray:
    """Each file's label from its windows' mean probability (one model call for them all)."""
    from genrelab.training import track_predictions

    files = np.flatnonzero(mask)
    X = np.concatenate([source.rows[i] for i in files])
    owner = np.repeat(files, [len(source.rows[i]) for i in files])
    _, predicted = track_predictions(model, X, owner)
    return predicted.astype(object)


def _folds(groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold number per file: whole groups, shuffled deterministically by ``seed``.

    Not :func:`genrelab.data.splits.kfold`: its stratification refuses a source with fewer
    groups per genre than folds, and a cross-source test set only needs whole groups.
    """
    unique = np.unique(groups)
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {g: int(order[i] % k) for i, g in enumerate(unique)}
    return np.array([fold_of[g] for g in groups])


def cross_source(
    model: str,
    params: dict[str, Any],
    train: Sequence[Source],
    test: Sequence[Source],
    folds: int = 5,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Scores of ``model`` on every test source: per class, with unscorable files counted."""
    from genrelab.models import create_model

    def fit(masks: Sequence[np.ndarray]) -> Any:
        X, y = _stack(train, masks)
        return create_model(model, **params).fit(X, y)

    everything = [np.ones(len(s.labels), dtype=bool) for s in train]
    shared: Any = None
    per_source: dict[str, Any] = {}
    for source in test:
        predicted = np.empty(len(source.labels), dtype=object)
        in_train = [i for i, s in enumerate(train) if s.name == source.name]
        if in_train:
            n_folds = min(folds, len(np.unique(source.groups)))
            fold = _folds(source.groups, n_folds, seed)
            for k in np.unique(fold):
                masks = [m.copy() for m in everything]
                masks[in_train[0]] &= fold != k
                fitted = fit(masks)
                known = set(map(str, fitted.classes_))
                predicted[fold == k] = _predict(fitted, source, fold == k)
                if on_step:
                    on_step(f"{model} · {source.name} · fold {k + 1}")
            how = f"leave-group-out {len(np.unique(fold))}-fold over its groups"
        else:
            shared = shared if shared is not None else fit(everything)
            known = set(map(str, shared.classes_))
            predicted[:] = _predict(shared, source, np.ones(len(source.labels), dtype=bool))
            if on_step:
                on_step(f"{model} · {source.name}")
            how = "held out: never trained on"
        scorable = np.isin(source.labels, sorted(known))
        labels = sorted(set(source.labels[scorable]) | set(map(str, predicted[scorable])))
        metrics = classification_metrics(
            source.labels[scorable], predicted[scorable].astype(str), labels
        )
        outside = sorted(set(source.labels[~scorable]))
        per_source[source.name] = {
            "how": how,
            "metrics": metrics,
            "unscored": {"files": int((~scorable).sum()), "labels": outside},
        }
    worst = min(per_source, key=lambda s: per_source[s]["metrics"]["accuracy"])
    return {
        "model": model,
        "params": params,
        "protocol": PROTOCOL,
        "train": [s.name for s in train],
        "sources": per_source,
        "headline": {"worst_source": worst, "accuracy": per_source[worst]["metrics"]["accuracy"]},
    }


def markdown(results: Sequence[dict[str, Any]]) -> str:
    """One table: a row per model and test source, recall per class, the worst source first."""
    classes = sorted(
        {
            c
            for r in results
            for s in r["sources"].values()
            for c, m in s["metrics"]["per_class"].items()
            if m["support"]
        }
    )
    head = ["model", "test source", "how", "accuracy", *(f"recall {c}" for c in classes)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        for name, s in sorted(r["sources"].items(), key=lambda kv: kv[1]["metrics"]["accuracy"]):
            per = s["metrics"]["per_class"]
            cells = [
                f"{per[c]['recall']:.2f}" if c in per and per[c]["support"] else "" for c in classes
            ]
            acc = f"{s['metrics']['accuracy']:.3f} (n={s['metrics']['n']})"
            lines.append("| " + " | ".join([r["model"], name, s["how"], acc, *cells]) + " |")
    return "\n".join(lines) + "\n"
