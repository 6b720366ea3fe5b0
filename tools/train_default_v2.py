"""Train the embedded default model: handcrafted-feature model x musicnn heads, and its card.

The model is a product of experts over one front-end row per 30 s window,
``[57 GTZAN features | MSD musicnn max_pool | penultimate | tag log-odds]``:

* the feature expert (``soft_vote`` of SVM and XGBoost, as the first default) is fitted on all
  930 rows of the Kaggle feature table;
* three musicnn experts (standardised logistic regressions on the window's mean ``max_pool``
  and ``penultimate`` embeddings and mean tag log-odds) are fitted on the 30 GTZAN dev clips,
  the only clips with audio, each on the mean over all of a clip's 3 s patches;
* they are combined as ``softmax(w_f log p_features + 1/3 sum log p_musicnn)``.

Inference averages 2 of the 10 patches of each 30 s window, from the middles of its halves
(about 45 ms of network time per patch on two cores: under a second for a 4-minute song).

Validation (all recorded in the card):
1. The feature expert alone, on the table: stratified 10-fold CV on all 930 rows, and the
   artist-filtered test split when fitted on its train+valid lists (as the first default).
2. The stack, its musicnn part and its feature part on the dev clips, by grouped 3-fold CV
   over clip ids (fold k holds out ``<genre>.0000k`` of every genre: one clip per genre). In
   each fold the musicnn experts see only the other 20 dev clips and the feature expert the
   920 table rows that are not held-out dev clips, so no held-out clip reaches any expert.
   Held-out clips are scored as ``classify`` scores them: features from their audio, musicnn
   on 2 patches. ``w_f`` is picked from a small grid by this CV's log loss; the musicnn
   representation, C values and patch count were also explored on these clips, so the dev
   numbers are somewhat optimistic (the grid is reported in full).
3. Leave-one-clip-out over the 30 dev clips for the musicnn part (cheap, so also reported).

Expensive stages are cached in ``--work``, so a rerun only redoes what changed.
Usage: python tools/train_default_v2.py ../shared/data/gtzan-features/features_30_sec.csv \\
    ../shared/data/gtzan-dev
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from genrelab.data import load_dataset
from genrelab.data.fitted import FITTED_KEY, record, row_ids
from genrelab.evaluation.metrics import classification_metrics
from genrelab.models import create_model, default_bundle_path
from genrelab.models.bundle import Bundle
from genrelab.pretrained.embeddings import load_embedding_data
from genrelab.pretrained.stack import product_of_experts
from genrelab.training import FeatureData, load_feature_data, train

FEATURE_EXPERT = (
    "soft_vote",
    {"members": [{"model": "svm", "params": {}}, {"model": "xgboost", "params": {"n_jobs": 2}}]},
)
LAYERS = ["max_pool", "penultimate"]
#: Regularisation per musicnn expert, fixed before the CV below (L2 strength for 20-30 clips).
MUSICNN_EXPERTS = {"max_pool": 1.0, "penultimate": 0.1, "tag_logits": 1.0}
WIDTHS = {"features": 57, "max_pool": 753, "penultimate": 200, "tag_logits": 50}
FEATURE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
MAX_PATCHES = 2
WINDOWING = {"window_s": 30.0, "hop_s": 30.0, "min_s": 5.0}


def columns() -> dict[str, list[int]]:
    bounds = np.cumsum([0, *WIDTHS.values()])
    return {k: [int(a), int(b)] for k, a, b in zip(WIDTHS, bounds[:-1], bounds[1:], strict=True)}


def embedder_options(max_patches: int | None) -> dict[str, Any]:
    """MSD musicnn options (the front end's, less its kind and model)."""
    options = {"layer": LAYERS, "pool": "mean", "tags": True, "tag_logits": True}
    return options | {"features": "gtzan57", "max_patches": max_patches}


def cached(work: Path, name: str, compute):
    path = work / f"{name}.joblib"
    if path.exists():
        return joblib.load(path)
    started = time.perf_counter()
    value = compute()
    joblib.dump(value, path)
    print(f"  {name}: {time.perf_counter() - started:.0f} s")
    return value


def subset(data: FeatureData, mask: np.ndarray) -> FeatureData:
    keep = set(data.groups[mask])
    return replace(
        data,
        X=data.X[mask],
        labels=data.labels[mask],
        groups=data.groups[mask],
        tracks=data.tracks[data.tracks["group"].isin(keep)].reset_index(drop=True),
    )


def musicnn_probas(X_fit, y_fit, X_test) -> tuple[list[np.ndarray], list[Any]]:
    cols = columns()
    models, probas = [], []
    for expert, C in MUSICNN_EXPERTS.items():
        a, b = cols[expert]
        model = create_model("logreg", C=C).fit(X_fit[:, a:b], y_fit)
        models.append(model)
        probas.append(model.predict_proba(X_test[:, a:b]) if len(X_test) else None)
    return probas, models


def scores(truth: np.ndarray, proba: np.ndarray, labels: list[str]) -> dict[str, Any]:
    metrics = classification_metrics(truth, np.asarray(labels)[proba.argmax(1)], labels)
    index = {c: i for i, c in enumerate(labels)}
    picked = proba[np.arange(len(truth)), [index[t] for t in truth]]
    metrics["log_loss"] = float(-np.mean(np.log(np.clip(picked, 1e-12, 1))))
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", help="features_30_sec.csv (930 rows)")
    parser.add_argument("dev", help="gtzan-dev folder (30 clips)")
    parser.add_argument("--out", type=Path, default=default_bundle_path())
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "genrelab-v2")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    name, params = FEATURE_EXPERT

    table = load_feature_data(args.table)
    labels = sorted(set(table.labels))
    print("1. feature expert on the table")
    kfold = cached(args.work, "table-kfold10", lambda: train(table, name, params, "kfold-10"))
    filtered = cached(
        args.work,
        "table-filtered",
        lambda: train(table, name, params, "gtzan-filtered", fit_on=("train", "valid")),
    )
    for entry in kfold.card.validation + filtered.card.validation:
        print(f"   {entry['protocol']}: accuracy {entry['metrics']['accuracy']:.4f}")

    print("2. dev clips: embeddings (cached), grouped 3-fold over clip ids")
    cache_dir = str(args.work / "embeddings")
    fit_rows = load_embedding_data(
        args.dev, "musicnn-msd", cache_dir=cache_dir, **embedder_options(None)
    )
    test_rows = load_embedding_data(
        args.dev, "musicnn-msd", cache_dir=cache_dir, **embedder_options(MAX_PATCHES)
    )
    assert (fit_rows.groups == test_rows.groups).all() and len(set(fit_rows.groups)) == 30
    groups, truth = fit_rows.groups, fit_rows.labels
    fold = np.array([int(g[-1]) for g in groups])
    a, b = columns()["features"]
    feature_p = np.zeros((len(groups), len(labels)))
    musicnn_p = [np.zeros_like(feature_p) for _ in MUSICNN_EXPERTS]
    for k in range(3):
        held = fold == k
        rows_out = ~np.isin(table.groups, groups[held])
        model = cached(
            args.work,
            f"dev-fold{k}-features",
            lambda rows_out=rows_out: create_model(name, **params).fit(
                table.X[rows_out], table.labels[rows_out]
            ),
        )
        feature_p[held] = model.predict_proba(test_rows.X[held, a:b])
        probas, _ = musicnn_probas(fit_rows.X[~held], truth[~held], test_rows.X[held])
        for store, p in zip(musicnn_p, probas, strict=True):
            store[held] = p
    experts = len(MUSICNN_EXPERTS)
    musicnn_only = product_of_experts(musicnn_p, [1 / experts] * experts)
    grid = {
        w: scores(
            truth,
            product_of_experts([feature_p, *musicnn_p], [w] + [1 / experts] * experts),
            labels,
        )
        for w in FEATURE_WEIGHTS
    }
    best = min(grid, key=lambda w: grid[w]["log_loss"])
    for w, m in grid.items():
        print(f"   w_f={w}: accuracy {m['accuracy']:.3f}, log loss {m['log_loss']:.3f}")
    print(f"   selected w_f={best}")

    print("3. leave-one-clip-out, musicnn part")
    loo = np.zeros_like(feature_p)
    for i in range(len(groups)):
        out = np.arange(len(groups)) != i
        probas, _ = musicnn_probas(fit_rows.X[out], truth[out], test_rows.X[i : i + 1])
        loo[i] = product_of_experts(probas, [1 / experts] * experts)[0]

    print("4. final model")
    _, musicnn_models = musicnn_probas(fit_rows.X, truth, test_rows.X[:0])
    cols = columns()
    members = [{"model": name, "params": params, "columns": cols["features"]}] + [
        {"model": "logreg", "params": {"C": C}, "columns": cols[expert]}
        for expert, C in MUSICNN_EXPERTS.items()
    ]
    stack = create_model(
        "column_stack", members=members, weights=[best] + [1 / experts] * experts
    ).set_members([kfold.model, *musicnn_models])

    dev_protocol = (
        "grouped 3-fold CV over the 30 GTZAN dev clips (fold k holds out <genre>.0000k of every "
        "genre); per fold the musicnn experts are fitted on the other 20 clips and the feature "
        "expert on the 920 table rows that are not held-out clips; held-out clips are scored "
        f"from their audio as classify does (gtzan57 features, musicnn on {MAX_PATCHES} patches)"
    )
    validation = [
        {
            "protocol": "design: feature expert = the first default's soft vote (selected by 10-fold CV "
            "on the non-test rows of the table). The musicnn representation (max_pool, penultimate, "
            "tag log-odds), the experts' C values and the 2 patches per window were chosen while "
            "exploring these same 30 clips, and w_f by the dev CV's log loss from the grid below, "
            "so the dev-clip numbers are somewhat optimistic; the table numbers are not affected",
            "grid": {
                str(w): {"accuracy": m["accuracy"], "log_loss": m["log_loss"]}
                for w, m in grid.items()
            },
            "selected": {"feature_weight": best},
        },
        {**kfold.card.validation[0], "part": "feature expert (table)"},
        {**filtered.card.validation[0], "part": "feature expert (table)"},
        {"protocol": dev_protocol, "part": "stack (shipped model)", "metrics": grid[best]},
        {
            "protocol": dev_protocol,
            "part": "musicnn experts only",
            "metrics": scores(truth, musicnn_only, labels),
        },
        {
            "protocol": dev_protocol,
            "part": "feature expert only",
            "metrics": scores(truth, feature_p, labels),
        },
        {
            "protocol": "leave-one-clip-out over the 30 GTZAN dev clips (musicnn experts fitted on 29, "
            f"held-out clip on {MAX_PATCHES} patches)",
            "part": "musicnn experts only",
            "metrics": scores(truth, loo, labels),
        },
    ]
    card = replace(
        kfold.card,
        model="column_stack",
        params=stack.get_params(),
        labels=[str(c) for c in stack.classes_],
        sample_rate=22050,
        frontend=test_rows.frontend,
        windowing=WINDOWING,
        training={
            FITTED_KEY: record(
                [*kfold.card.training.pop(FITTED_KEY), *row_ids(load_dataset(str(args.dev)))]
            ),
            "feature_expert": {**kfold.card.training, "fit_on": "all 930 rows of the table"},
            "musicnn_experts": {
                "data": str(args.dev),
                "tracks": 30,
                "class_counts": {c: int((truth == c).sum()) for c in labels},
                "rows": "one per clip: mean over all its 3 s patches",
                "notes": "hiphop.00001 is on none of the artist-filtered lists (flagged faulty "
                "or duplicate by Sturm); its tags are clearly hip-hop, so it is kept",
            },
        },
        validation=validation,
        description=(
            "GTZAN 10 genres: product of experts of a soft vote (SVM + XGBoost) on the 57 "
            "Kaggle features (fitted on the 930-row table) and three logistic regressions on "
            "MSD musicnn embeddings and tag log-odds (fitted on the 30 dev clips), "
            f"weights {best} and 1/3 each; 30 s windows, musicnn on {MAX_PATCHES} patches "
            "of each. Runs on onnxruntime, without torch."
        ),
    )
    if args.out.exists():
        shutil.rmtree(args.out)
    Bundle(card, stack).save(args.out)
    for entry in validation[1:]:
        m = entry["metrics"]
        print(f"   {entry['part']}: {entry['protocol'][:60]}...: accuracy {m['accuracy']:.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
