"""Train the embedded default model (11 genres) and its card, chosen by cross-source validation.

The model reads one row per 30 s window from one musicnn pass over the window's 3 s patches:
MSD musicnn's penultimate and max-pool embeddings and tag log-odds, and MTT musicnn's
penultimate embedding and tag log-odds (the same log-mel patches through both networks).
It is a product of experts (``column_stack``):

* five standardised logistic regressions, one per block, fitted on three sources at once:
  the 30 GTZAN dev clips (weighted ``DEV_WEIGHT``: they are the only full GTZAN clips),
  the 407 GTZAN excerpts (one patch each) and the 180 labelled emotify-dev clips
  (Magnatune: classical, rock, electronic), 11 classes;
* a zero-shot ``tag_prior``: each genre scores the largest log-odds of the tags that name it
  (no training), which keeps what the taggers learnt from millions of tracks in the answer.

The handcrafted-feature expert of the previous default was dropped: under the cross-source
protocol below it did not help on GTZAN dev clips and cost recall on emotify-dev (classical
heard as jazz, electronic as hip-hop), and it was the slowest part of classification.

Validation (recorded in the card): one 5-fold cross-validation over all three sources with
whole groups held out, so no clip is scored by a model that saw it and no emotify artist is
on both sides: GTZAN dev clips by clip id (fold k holds out <genre>.0000k), GTZAN excerpts
by artist block (<genre>-a<id // 10>), emotify-dev by artist. Held-out 30 s clips are scored
as ``classify`` scores them (one window, all 10 patches: the front end's patch budget). The
prior's weight was picked on this same CV from a small grid, so the numbers are somewhat
optimistic; the grid is in the card.

Usage: python tools/train_default_v3.py ../shared/data
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.audio import load
from genrelab.data.fitted import file_id
from genrelab.evaluation.metrics import classification_metrics
from genrelab.labels import GTZAN
from genrelab.models import create_model, default_bundle_path
from genrelab.models.bundle import Bundle, ModelCard
from genrelab.pretrained.embeddings import MusicnnEmbedder
from genrelab.pretrained.musicnn_onnx import tag_names

FRONTEND = {
    "model": "MSD_musicnn",
    "layer": ["penultimate", "max_pool"],
    "pool": "mean",
    "tags": True,
    "tag_logits": True,
    "also": "MTT_musicnn",
    "also_layer": ["penultimate"],
    "max_patches": 2,
    "patch_budget": 16,
    "tag_probs": True,  # last: the tags classify reports (the heads do not read them)
}
WINDOWING = {"window_s": 30.0, "hop_s": 30.0, "min_s": 3.0}
BLOCKS = {
    "msd_penultimate": 200,
    "msd_max_pool": 753,
    "msd_tags": 50,
    "mtt_penultimate": 200,
    "mtt_tags": 50,
}
HEADS = ("msd_penultimate", "msd_max_pool", "msd_tags", "mtt_penultimate", "mtt_tags")
C = 0.1
DEV_WEIGHT = 3.0
PRIOR_WEIGHTS = (0.5, 0.75, 1.0)
SHARPNESS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4, 1.7, 2.0)
FOLDS = 5
#: Tags that name each genre (reggae has none in either tagger: the prior is neutral on it).
GENRE_TAGS = {
    "blues": [("MSD_musicnn", "blues")],
    "classical": [("MTT_musicnn", "classical")],
    "country": [("MSD_musicnn", "country"), ("MTT_musicnn", "country")],
    "disco": [("MSD_musicnn", "dance"), ("MSD_musicnn", "funk")],
    "electronic": [
        ("MSD_musicnn", "electronic"),
        ("MSD_musicnn", "electronica"),
        ("MSD_musicnn", "electro"),
        ("MSD_musicnn", "House"),
        ("MTT_musicnn", "techno"),
        ("MTT_musicnn", "electronic"),
    ],
    "hiphop": [("MSD_musicnn", "Hip-Hop")],
    "jazz": [("MSD_musicnn", "jazz")],
    "metal": [("MSD_musicnn", "metal"), ("MSD_musicnn", "heavy metal"), ("MTT_musicnn", "metal")],
    "pop": [("MSD_musicnn", "pop"), ("MTT_musicnn", "pop")],
    "reggae": [],
    "rock": [
        ("MSD_musicnn", "rock"),
        ("MSD_musicnn", "hard rock"),
        ("MSD_musicnn", "alternative rock"),
        ("MTT_musicnn", "rock"),
    ],
}


def columns() -> dict[str, list[int]]:
    bounds = np.cumsum([0, *BLOCKS.values()])
    return {k: [int(a), int(b)] for k, a, b in zip(BLOCKS, bounds[:-1], bounds[1:], strict=True)}


def prior_params() -> tuple[list[int], dict[str, Any]]:
    """The prior's input columns (MSD tags through MTT tags) and its genre -> tag columns."""
    cols = columns()
    start = cols["msd_tags"][0]
    offset = {"MSD_musicnn": 0, "MTT_musicnn": cols["mtt_tags"][0] - start}
    genres = {
        g: [offset[m] + tag_names(m).index(t) for m, t in tags] for g, tags in GENRE_TAGS.items()
    }
    return [start, cols["mtt_tags"][1]], {"genres": genres}


def clips(data: Path) -> list[dict[str, Any]]:
    """Every labelled clip: source, path, label, group (for CV) and fold."""
    out = []
    for source in ("gtzan-dev", "gtzan-excerpts"):
        for path in sorted((data / source).glob("*/*.wav")):
            genre, number = path.stem.split(".")
            out.append(
                {
                    "source": source,
                    "path": path,
                    "label": genre,
                    "group": f"{genre}-a{int(number) // 10}",
                    "clip": int(number),
                }
            )
    with (data / "emotify-dev" / "manifest.csv").open() as fh:
        for row in csv.DictReader(fh):
            path = data / "emotify-dev" / row["path"]
            out.append(
                {
                    "source": "emotify-dev",
                    "path": path,
                    "label": row["label"],
                    "group": row["group"],
                }
            )
    groups = sorted({c["group"] for c in out if c["source"] != "gtzan-dev"})
    order = np.random.default_rng(0).permutation(len(groups))
    fold_of = {g: int(order[i] % FOLDS) for i, g in enumerate(groups)}
    for c in out:
        c["fold"] = c["clip"] % FOLDS if c["source"] == "gtzan-dev" else fold_of[c["group"]]
    return out


def embed(items: list[dict[str, Any]], work: Path) -> np.ndarray:
    """One front-end row per clip, as ``classify`` computes it for a one-window clip
    (cached). Excerpts shorter than a patch are tiled to 3.2 s."""
    cache = work / "rows.npy"
    if cache.exists():
        return np.load(cache)
    frontend = MusicnnEmbedder(**{**FRONTEND, "max_patches": None})  # one window: all patches
    started, rows = time.perf_counter(), []
    for i, item in enumerate(items):
        y, sr = load(item["path"], sr=frontend.sample_rate)
        if len(y) < 3.2 * sr:
            y = np.tile(y, int(np.ceil(3.2 * sr / len(y))))[: int(3.2 * sr)]
        rows.append(frontend([y[: int(30 * sr)]], sr)[0])
        if i % 100 == 0:
            print(f"  {i}/{len(items)} clips, {time.perf_counter() - started:.0f} s", flush=True)
    np.save(cache, np.asarray(rows))
    return np.asarray(rows)


def fit_heads(X: np.ndarray, y: np.ndarray, weight: np.ndarray) -> list[Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cols, heads = columns(), []
    for block in HEADS:
        a, b = cols[block]
        pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
        pipeline.fit(X[:, a:b], y, logisticregression__sample_weight=weight)
        head = create_model("logreg", C=C)
        head.pipeline_ = pipeline
        head.classes_ = pipeline.classes_.astype(str)
        heads.append(head)
    return heads


def stack(heads: list[Any], prior_weight: float, sharpness: float = 1.0) -> Any:
    """The product of experts; ``sharpness`` scales every weight (a temperature)."""
    cols = columns()
    prior_cols, prior = prior_params()
    members = [{"model": "logreg", "params": {"C": C}, "columns": cols[b]} for b in HEADS]
    members.append({"model": "tag_prior", "params": prior, "columns": prior_cols})
    weights = [sharpness * w for w in [1 / len(HEADS)] * len(HEADS) + [prior_weight]]
    model = create_model("column_stack", members=members, weights=weights)
    return model.set_members([*heads, create_model("tag_prior", **prior)])


def sharpen(P: np.ndarray, s: float) -> np.ndarray:
    """``P ** s`` renormalised: what scaling every expert's weight by ``s`` does."""
    logs = s * np.log(np.clip(P, 1e-12, 1.0))
    logs -= logs.max(axis=1, keepdims=True)
    out = np.exp(logs)
    return out / out.sum(axis=1, keepdims=True)


def calibration(P: np.ndarray, truth: np.ndarray, classes: list[str]) -> dict[str, float]:
    """Log loss and 10-bin expected calibration error of the top class's probability."""
    index = np.array([classes.index(t) for t in truth])
    confidence, correct = P.max(1), P.argmax(1) == index
    bins = np.minimum((confidence * 10).astype(int), 9)
    ece = sum(
        abs(correct[bins == b].mean() - confidence[bins == b].mean()) * np.mean(bins == b)
        for b in range(10)
        if (bins == b).any()
    )
    nll = -np.mean(np.log(np.clip(P[np.arange(len(P)), index], 1e-12, 1)))
    return {"log_loss": float(nll), "ece": float(ece), "mean_confidence": float(confidence.mean())}


def scores(truth: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    labels = sorted(set(truth[mask]) | set(pred[mask]))
    with warnings.catch_warnings():  # predicted genres absent from a source are expected
        warnings.simplefilter("ignore", UserWarning)
        return classification_metrics(truth[mask], pred[mask], labels)


SOURCES = {
    "gtzan-dev": "30 real GTZAN clips, ids 00000-00002 of each genre (30 s)",
    "gtzan-excerpts": "407 real GTZAN excerpts, ids 00010-00050 (2-3 s, tiled to 3.2 s)",
    "emotify-dev": "180 labelled Magnatune clips of the Emotify collection, 66 artists "
    "(classical, rock, electronic; genre from each file's ID3 tag)",
}


def temperature(
    P: np.ndarray, y: np.ndarray, source: np.ndarray, classes: list[str]
) -> tuple[float, dict[str, Any]]:
    """One scale of all expert weights, fitted on the CV probabilities with each source
    counting equally, so that a confidence means about the same on GTZAN and elsewhere; and
    each source's calibration before and after (it changes no answer, only confidences)."""
    sources = sorted(set(source))

    def source_loss(s: float) -> float:
        Q = sharpen(P, s)
        return float(
            np.mean(
                [calibration(Q[source == x], y[source == x], classes)["log_loss"] for x in sources]
            )
        )

    sharpness = min(SHARPNESS, key=source_loss)
    calibrated = {
        x: {
            "before": calibration(P[source == x], y[source == x], classes),
            "after": calibration(sharpen(P, sharpness)[source == x], y[source == x], classes),
        }
        for x in sources
    }
    for x, c in calibrated.items():
        print(
            f"   {x}: ECE {c['before']['ece']:.3f} -> {c['after']['ece']:.3f} (scale {sharpness})"
        )
    return sharpness, calibrated


def calibration_entry(sharpness: float, calibrated: dict[str, Any]) -> dict[str, Any]:
    """The card's validation entry for :func:`temperature`."""
    return {
        "protocol": "calibration: every expert weight scaled by one factor (a temperature) "
        "chosen from a grid to minimise the CV log loss averaged over the three sources; "
        "expected calibration error (10 bins, top class) and log loss on the same CV "
        "probabilities before and after",
        "selected": {"weight_scale": sharpness},
        "by_source": calibrated,
    }


def class_counts(items: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for c in items:
        counts.setdefault(c["source"], {}).setdefault(c["label"], 0)
        counts[c["source"]][c["label"]] += 1
    return counts


def save_default(
    out: Path,
    model: Any,
    items: list[dict[str, Any]],
    *,
    rows: str,
    dev_weight: float,
    validation: list[dict[str, Any]],
    description: str,
) -> None:
    """Write the default bundle with a card that says what it was trained on and how."""
    card = ModelCard(
        model="column_stack",
        params=model.get_params(),
        labels=[str(c) for c in model.classes_],
        sample_rate=16000,
        frontend={"kind": "musicnn", **FRONTEND},
        windowing=WINDOWING,
        training={
            "sources": SOURCES,
            "class_counts": class_counts(items),
            "rows": rows,
            "sample_weights": {"gtzan-dev": dev_weight, "other": 1.0},
            "fitted_ids": sorted({file_id(c["path"]) for c in items}),
        },
        validation=validation,
        description=description,
    )
    if out.exists():
        shutil.rmtree(out)
    Bundle(card, model).save(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="../shared/data")
    parser.add_argument("--out", type=Path, default=default_bundle_path())
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "genrelab-v3")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    items = clips(args.data)
    print(f"1. front-end rows for {len(items)} clips (cached in {args.work})")
    X = embed(items, args.work)
    y = np.array([c["label"] for c in items])
    source = np.array([c["source"] for c in items])
    fold = np.array([c["fold"] for c in items])
    weight = np.where(source == "gtzan-dev", DEV_WEIGHT, 1.0)

    print("2. cross-source CV (whole groups held out)")
    probas = {w: np.zeros((len(items), len(set(y)))) for w in PRIOR_WEIGHTS}
    classes = None
    for k in range(FOLDS):
        train, test = fold != k, fold == k
        heads = fit_heads(X[train], y[train], weight[train])
        for w in PRIOR_WEIGHTS:
            model = stack(heads, w)
            classes = list(map(str, model.classes_))
            probas[w][test] = model.predict_proba(X[test])
    gtzan_cols = [classes.index(g) for g in GTZAN]
    grid = {}
    for w, P in probas.items():
        pred = np.array(classes)[P.argmax(1)]
        pred_gtzan = np.array(GTZAN)[P[:, gtzan_cols].argmax(1)]
        grid[w] = {
            "gtzan-dev (--labels gtzan)": scores(y, pred_gtzan, source == "gtzan-dev"),
            "gtzan-excerpts (--labels gtzan, 1 patch)": scores(
                y, pred_gtzan, source == "gtzan-excerpts"
            ),
            "emotify-dev": scores(y, pred, source == "emotify-dev"),
            "gtzan-dev (11 labels)": scores(y, pred, source == "gtzan-dev"),
        }

    def criterion(w: float) -> tuple[float, float]:
        """The weaker of GTZAN accuracy and the worst emotify recall; ties: that recall."""
        recalls = grid[w]["emotify-dev"]["per_class"]
        worst = min(recalls[c]["recall"] for c in ("classical", "rock", "electronic"))
        return min(worst, grid[w]["gtzan-dev (--labels gtzan)"]["accuracy"]), worst

    best = max(PRIOR_WEIGHTS, key=criterion)
    for w in PRIOR_WEIGHTS:
        g = grid[w]
        rec = g["emotify-dev"]["per_class"]
        print(
            f"   prior {w}: gtzan-dev {g['gtzan-dev (--labels gtzan)']['accuracy']:.3f}, emotify "
            + ", ".join(f"{c} {rec[c]['recall']:.3f}" for c in ("classical", "rock", "electronic"))
        )
    print(f"   selected prior weight {best}")

    sharpness, calibrated = temperature(probas[best], y, source, classes)

    print("3. final model on everything")
    model = stack(fit_heads(X, y, weight), best, sharpness)
    protocol = (
        f"{FOLDS}-fold cross-validation over all three training sources with whole groups held "
        "out: GTZAN dev clips by clip id (fold k holds out <genre>.0000k), GTZAN excerpts by "
        "artist block (<genre>-a<id // 10>), emotify-dev by artist (no artist on both sides); "
        "held-out 30 s clips scored as classify scores them (one window, all 10 patches)"
    )
    validation = [
        {
            "protocol": "design: heads, C, the dev-clip weight and the patch budget were chosen "
            "by exploring this same cross-validation, and the prior's weight from the grid below, "
            "so these numbers are somewhat optimistic",
            "grid": {str(w): {k: v["accuracy"] for k, v in grid[w].items()} for w in grid},
            "selected": {"prior_weight": best},
        },
        calibration_entry(sharpness, calibrated),
    ] + [
        {"protocol": protocol, "part": part, "metrics": metrics}
        for part, metrics in grid[best].items()
    ]
    save_default(
        args.out,
        model,
        items,
        rows="one per clip: the mean over all its 3 s patches (as one 30 s window)",
        dev_weight=DEV_WEIGHT,
        validation=validation,
        description=(
            "11 genres (the 10 GTZAN genres + electronic): product of experts of five logistic "
            "regressions on MSD and MTT musicnn embeddings and tag log-odds (fitted on GTZAN dev "
            "clips, GTZAN excerpts and emotify-dev) and a zero-shot tag prior; 30 s windows, "
            "musicnn on 2 patches of each (all 10 when the track is a single window: a budget "
            "of 16 patches per track). Runs on onnxruntime, without torch."
        ),
    )
    print(json.dumps({k: v["accuracy"] for k, v in grid[best].items()}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
