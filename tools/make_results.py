"""Regenerate ``docs/results.md``: ``genrelab compare`` on the shared data, beside published numbers.

    python tools/make_results.py [--shared ../shared/data] [--out artifacts/results]
                                 [--cnn-epochs 8 | --cnn-epochs 0 to skip the CNN]

Three comparisons run through the same code as ``genrelab compare`` (each also writes its
leaderboard, ``report.html`` and figures under ``--out``):

1. the Kaggle 30-second feature table (930 clips): six feature models under ``kfold-10`` and
   the artist-filtered split (``gtzan-filtered``, seeds 0, 1, 2);
2. a leakage demonstration on the 30 dev clips cut into 3-second windows: the same models
   with folds grouped by track (``kfold-3``) and with windows assigned to folds at random
   (``kfold-rows-3``), which is how the 3-second Kaggle table is usually split;
3. the CNN on the 30 dev clips (``kfold-3``): a check of the neural path, not a benchmark.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from genrelab import __version__
from genrelab.atomic import write_text
from genrelab.experiments.compare import Entry, Inputs, compare, leaderboard
from genrelab.experiments.report import markdown_table, write_results

ROOT = Path(__file__).resolve().parents[1]
FEATURE_MODELS = ["knn", "logreg", "svm", "random_forest", "xgboost", "soft_vote"]
LEAK_MODELS = ["knn", "svm", "xgboost"]
#: One thread per model: on shared cores, OpenMP's spinning threads make XGBoost 20x slower.
SINGLE_THREAD = {
    "random_forest": {"n_jobs": 1},
    "xgboost": {"n_jobs": 1},
    "soft_vote": {
        "members": [{"model": "svm", "params": {}}, {"model": "xgboost", "params": {"n_jobs": 1}}]
    },
}

CLAIMED = [
    ("DistilHuBERT (fine-tuned)", "78%", "accuracy", "not artist-filtered"),
    ("AST + DoRA", "83-87%", "accuracy", "not artist-filtered"),
    ("XGBoost on the Kaggle features", "92%", "accuracy", "3-second table split by row (leaks)"),
    ("Whisper Small (fine-tuned)", "92%", "accuracy", "not artist-filtered"),
    ("CNN on spectrograms", "92%", "accuracy", "3-second segments split by row (leaks)"),
    ("KNN on the Kaggle features", "67%", "accuracy", "not artist-filtered"),
    ("Xception on spectrogram images", "73%", "balanced accuracy", "not artist-filtered"),
]
ANCHORS = [
    ("MFCC + SVM", "53.4%"),
    ("musicnn (MSD) features + SVM", "77.2%"),
    ("MERT-330M probe", "79.3%"),
    ("Jukebox probe", "79.7%"),
    ("SampleCNN", "82.1%"),
]


def run(
    name: str, inputs: Inputs, models, protocols, out: Path, reuse: bool, seeds=(0,), params=None
) -> tuple[list[Entry], float]:
    """Compare (or, with ``reuse``, read the stored ``results.json``); returns entries, minutes."""
    stored = out / name / "results.json"
    if reuse and stored.is_file():
        document = json.loads(stored.read_text())
        print(f"{name}: reusing {stored}")
        return [Entry.from_dict(e) for e in document["entries"]], document["meta"]["minutes"]

    def progress(model: str, protocol: str, result) -> None:
        print(f"  {protocol} {model} {result.name}: {result.metrics['accuracy']:.3f}", flush=True)

    started = time.perf_counter()
    entries = compare(inputs, models, protocols, seeds, params, on_run=progress)
    minutes = (time.perf_counter() - started) / 60
    meta = {
        "data": inputs.spec,
        "protocols": ", ".join(protocols),
        "seeds": list(seeds),
        "minutes": round(minutes, 1),
    }
    write_results(entries, out / name, meta)
    print(f"{name}: {len(entries)} entries in {minutes:.1f} min -> {out / name}")
    return entries, minutes


def musicnn_rows(shared: Path, out: Path) -> list[str]:
    """The default's own ingredients fitted on GTZAN only, and its tag prior alone.

    GTZAN: grouped CV over the 30 dev clips (fold k holds out <genre>.0000k; excerpts always
    in training), labels restricted to GTZAN's 10. emotify-dev is never trained on.
    """
    import sys

    import numpy as np

    sys.path.insert(0, str(ROOT / "tools"))
    import train_default_v3 as v3

    from genrelab.labels import GTZAN
    from genrelab.models.combine import product_of_experts

    items = v3.clips(shared)
    X = v3.embed(items, out / "musicnn-rows")
    y = np.array([c["label"] for c in items])
    source = np.array([c["source"] for c in items])
    dev, emo = source == "gtzan-dev", source == "emotify-dev"
    gtzan = ~emo
    weight = np.where(dev, v3.DEV_WEIGHT, 1.0)
    clip = np.array([c.get("clip", -1) for c in items])
    cols = v3.columns()

    def heads_proba(train: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
        heads = v3.fit_heads(X[train], y[train], weight[train])
        probas = [
            h.predict_proba(X[rows][:, slice(*cols[b])])
            for h, b in zip(heads, v3.HEADS, strict=True)
        ]
        return product_of_experts(probas, [1 / len(heads)] * len(heads)), list(heads[0].classes_)

    dev_pred = np.empty(dev.sum(), dtype=object)
    for k in range(3):
        held = dev & (clip == k)
        P, classes = heads_proba(gtzan & ~held, held)
        dev_pred[(clip[dev] == k)] = np.array(classes)[P.argmax(1)]
    gtzan_acc = float(np.mean(dev_pred == y[dev]))
    P, classes = heads_proba(gtzan, emo)
    emo_pred = np.array(classes)[P.argmax(1)]
    prior_cols, prior_params = v3.prior_params()
    from genrelab.models import create_model

    prior = create_model("tag_prior", **prior_params)
    prior_P = prior.predict_proba(X[:, slice(*prior_cols)])
    prior_classes = list(prior.classes_)
    g = [prior_classes.index(c) for c in GTZAN]
    prior_dev = np.array(GTZAN)[prior_P[dev][:, g].argmax(1)]
    prior_emo = np.array(prior_classes)[prior_P[emo].argmax(1)]

    def recalls(pred: np.ndarray, genres: tuple[str, ...]) -> str:
        return " | ".join(f"{np.mean(pred[y[emo] == c] == c):.2f}" for c in genres)

    scored = np.isin(y[emo], classes)
    return [
        f"| musicnn heads (MSD + MTT, five logistic regressions) | musicnn | GTZAN dev + excerpts "
        f"| {_pct(gtzan_acc)} (dev clips, grouped CV) "
        f"| {np.mean(emo_pred[scored] == y[emo][scored]):.3f} | {recalls(emo_pred, ('classical', 'rock'))} "
        "| no class |",
        "| musicnn tag prior alone (zero-shot, no training) | musicnn tags | nothing "
        f"| {_pct(float(np.mean(prior_dev == y[dev])))} (dev clips) "
        f"| {np.mean(prior_emo == y[emo]):.3f} | {recalls(prior_emo, ('classical', 'rock', 'electronic'))} |",
    ]


def cross_source_section(
    table: Path, emotify: Path, out: Path, reuse: bool, filtered: dict[str, float]
) -> list[str]:
    """Section 4: each family fitted on GTZAN, scored on emotify-dev (never trained on)."""
    from genrelab.experiments.cross_source import cross_source, load_source
    from genrelab.models import load_bundle

    stored = out / "cross-source" / "results.json"
    if reuse and stored.is_file():
        results = json.loads(stored.read_text())
    else:
        started = time.perf_counter()
        train, test = [load_source(str(table))], [load_source(str(emotify))]
        results = [cross_source(m, SINGLE_THREAD.get(m, {}), train, test) for m in FEATURE_MODELS]
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(
            json.dumps({"minutes": (time.perf_counter() - started) / 60, "runs": results})
        )
        results = json.loads(stored.read_text())
    rows = []
    for r in results["runs"]:
        s = next(iter(r["sources"].values()))
        per = s["metrics"]["per_class"]
        recall = [f"{per[c]['recall']:.2f}" if c in per else "-" for c in ("classical", "rock")]
        rows.append(
            f"| {r['model']} | 57 features | GTZAN table (930 clips) | {_pct(filtered[r['model']])} "
            f"| {s['metrics']['accuracy']:.3f} | {' | '.join(recall)} | no class |"
        )
    rows += musicnn_rows(table.parent.parent, out)
    card = load_bundle().card
    by_part = {e["part"]: e["metrics"] for e in card.validation if "part" in e}
    emo, dev = by_part["emotify-dev"], by_part["gtzan-dev (--labels gtzan)"]
    per = emo["per_class"]
    rows.append(
        "| **default** (musicnn MSD + MTT heads + exemplar gate + tag prior) | musicnn | GTZAN dev + excerpts "
        f"+ emotify-dev | {_pct(dev['accuracy'])} (dev clips, grouped CV) | {emo['accuracy']:.3f} "
        f"| {per['classical']['recall']:.2f} | {per['rock']['recall']:.2f} "
        f"| {per['electronic']['recall']:.2f} |"
    )
    return [
        "## 4. Across sources: fitted on GTZAN, scored on emotify-dev",
        "",
        "Protocol `cross-source` (`genrelab compare --protocol cross-source --data TRAIN "
        "--test-data TEST`): each model is fitted on one source and scored on another it never "
        "saw: emotify-dev, 180 labelled Creative Commons clips from Magnatune (classical 51, "
        "rock 85, electronic 44; 66 artists), a different recording chain, decades and artists. "
        "The feature families are fitted on the GTZAN table; their GTZAN column is the "
        "artist-filtered test accuracy of section 1. They have no electronic class, so emotify "
        "accuracy is over its classical and rock clips (136). The default model is also "
        "trained on emotify-dev, so its emotify numbers come from leave-artist-out "
        "cross-validation (no artist on both sides) and its GTZAN number from grouped "
        "cross-validation over the 30 dev clips, as recorded in its card.",
        "",
        "| model | input | fitted on | GTZAN | emotify accuracy | recall classical "
        "| recall rock | recall electronic |",
        "|---|---|---|--:|--:|--:|--:|--:|",
        *rows,
        "",
        "Models fitted on GTZAN alone transfer badly: a GTZAN model hears Magnatune's rock and "
        "classical through a different recording chain, and it has no word for electronic "
        "music at all. The default model keeps the pretrained taggers' knowledge (a zero-shot "
        "tag prior) and learns from more than one source; its exemplar gate recognises "
        "recordings close to the GTZAN dev clips (mostly their artists: GTZAN excerpts of other "
        "artists score 66.3% under the same CV). Its design was selected on this same "
        "cross-validation among thousands of settings, so its numbers are optimistic by about a "
        "clip (`tools/train_default_v4.py`).",
        "",
    ]


def _accuracy(entries: list[Entry], model: str, protocol: str) -> float:
    return next(
        e.summary()["accuracy"] for e in entries if (e.model, e.protocol) == (model, protocol)
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "results")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "results.md")
    parser.add_argument("--cnn-epochs", type=int, default=8)
    parser.add_argument(
        "--reuse", action="store_true", help="rewrite the page from stored results.json files"
    )
    args = parser.parse_args()
    table = args.shared / "gtzan-features" / "features_30_sec.csv"
    dev = args.shared / "gtzan-dev"

    features, t1 = run(
        "features-30s", Inputs(str(table)), FEATURE_MODELS, ["kfold-10", "gtzan-filtered"],
        args.out, args.reuse, seeds=(0, 1, 2), params=SINGLE_THREAD,
    )  # fmt: skip
    windows = Inputs(str(dev), window_s=3.0, hop_s=3.0)
    leak_params = {m: SINGLE_THREAD[m] for m in LEAK_MODELS if m in SINGLE_THREAD}
    leak, t2 = run(
        "leak-demo-3s",
        windows,
        LEAK_MODELS,
        ["kfold-3", "kfold-rows-3"],
        args.out,
        args.reuse,
        params=leak_params,
    )
    cnn, t3 = [], 0.0
    if args.cnn_epochs > 0:
        params = {"cnn": {"epochs": args.cnn_epochs}}
        cnn, t3 = run(
            "cnn-dev", Inputs(str(dev)), ["cnn"], ["kfold-3"], args.out, args.reuse, params=params
        )

    filtered = leaderboard([e for e in features if e.protocol == "gtzan-filtered"])
    folds = leaderboard([e for e in features if e.protocol == "kfold-10"])
    gains = [
        f"{m} {_pct(_accuracy(leak, m, 'kfold-3'))} → {_pct(_accuracy(leak, m, 'kfold-rows-3'))}"
        for m in LEAK_MODELS
    ]
    leaked = max(len(e.leaked_tracks) for e in leak if e.protocol == "kfold-rows-3")
    drops = {
        m: (_accuracy(features, m, "kfold-10"), _accuracy(features, m, "gtzan-filtered"))
        for m in FEATURE_MODELS
    }
    points = [100 * (k - f) for k, f in drops.values()]
    n_test = next(e.runs[0].metrics["n"] for e in features if e.protocol == "gtzan-filtered")
    lines = [
        "# Results",
        "",
        f"<!-- Generated by `python tools/make_results.py` on "
        f"{datetime.now(UTC).date()} with genrelab {__version__}; do not edit by hand. -->",
        "",
        "Numbers measured here with `genrelab compare`, beside the numbers published for GTZAN.",
        "Every score is per track (the mean probability over a track's windows), on tracks the",
        "model did not train on; ± is the standard deviation over folds (k-fold) or over seeds",
        "(the fixed artist-filtered split, where only the models' own seeds change — k-NN and",
        "logistic regression have none, hence ± 0). Fit and predict times are per fit and per",
        "track on 2 shared CPU cores, features precomputed.",
        "",
        "## 1. GTZAN, 57 handcrafted features per 30-second clip",
        "",
        f"The Kaggle table `features_30_sec.csv` (930 of the 1000 clips), six feature models "
        f"({t1:.1f} min). Best under 10-fold cross-validation: {folds['model'][0]} "
        f"{_pct(folds['accuracy'][0])}; best on the artist-filtered test set: "
        f"{filtered['model'][0]} {_pct(filtered['accuracy'][0])}.",
        "",
        markdown_table(leaderboard(features)),
        f"Moving from 10-fold cross-validation to the artist-filtered split costs every model "
        f"{min(points):.0f} to {max(points):.0f} points: "
        + "; ".join(f"{m} {_pct(k)} → {_pct(f)}" for m, (k, f) in drops.items())
        + f". The SVM's {_pct(drops['svm'][1])} lands beside the published MFCC + SVM anchor "
        "(53.4%) on that split. Cross-validation over the clips puts songs by the same artist "
        "(often from one album, a few clips even twice) on both sides; the artist-filtered split "
        "of Kereliuk, Sturm & Larsen (2015) does not. Its models also learn from fewer clips "
        f"(the 443 training clips; the validation clips are not used here; {n_test} test "
        "clips), so part of the drop is less training data. Random forest, XGBoost and the soft vote ran single-threaded: on shared "
        "cores XGBoost's spinning OpenMP threads made one fit 20 times slower.",
        "",
        "## 2. Leakage demonstration: 3-second windows split by row",
        "",
        "The published 92% for XGBoost and for a CNN come from the Kaggle *3-second* table,",
        "whose ten rows per clip are split at random, row by row. We do not have that table, so",
        "this simulates it honestly on what we have: the 30 dev clips (3 per genre) cut into",
        "3-second windows with the same 57 features, compared under folds grouped by track",
        "(`kfold-3`) and under folds that assign windows at random (`kfold-rows-3`, a protocol",
        f"kept only to show the leak: {leaked} of 30 tracks end up on both sides). "
        f"Accuracy, grouped → row-split: {'; '.join(gains)} ({t2:.1f} min).",
        "",
        markdown_table(leaderboard(leak)),
        "With 30 clips the grouped scores are noisy; what matters is that the same models on",
        "the same windows gain tens of points when windows of one recording are allowed on both",
        "sides, because neighbouring windows of a recording are near duplicates. That is a",
        "measure of recognising recordings, not genres, and `compare` flags it.",
        "",
    ]
    if cnn:
        lines += [
            "## 3. CNN on the 30 dev clips",
            "",
            f"The 3-layer CNN on 3-second mel spectrograms, {args.cnn_epochs} epochs, 3 folds "
            f"grouped by track, on CPU ({t3:.1f} min). Twenty training clips cannot train a "
            "CNN; this checks that neural models run through the same protocol, runs and "
            "report, and is not a benchmark. Its prediction time includes computing the "
            "spectrograms of the whole track (the feature models' excludes their features).",
            "",
            markdown_table(leaderboard(cnn)),
        ]
    filtered_acc = {m: _accuracy(features, m, "gtzan-filtered") for m in FEATURE_MODELS}
    emotify = args.shared / "emotify-dev" / "manifest.csv"
    lines += cross_source_section(table, emotify, args.out, args.reuse, filtered_acc)
    lines += [
        "## Published numbers, for context",
        "",
        "Claimed in write-ups and model cards (none on the artist-filtered split):",
        "",
        "| system | claimed | metric | protocol |",
        "|---|--:|---|---|",
        *(f"| {s} | {v} | {m} | {p} |" for s, v, m, p in CLAIMED),
        "",
        "Published anchors on the artist-filtered test set (accuracy):",
        "",
        "| system | accuracy |",
        "|---|--:|",
        *(f"| {s} | {v} |" for s, v in ANCHORS),
        "",
        "## Why the protocol matters",
        "",
        "- **Windows of one track on both sides** (the 3-second table split by row) measure how",
        "  well a model recognises a recording it has already heard: section 2 shows the same",
        "  models jumping by tens of points. The 92% of XGBoost and of the CNN come from this.",
        "- **Tracks split at random** (k-fold or random splits of the 1000 clips) still leak",
        "  artists: GTZAN has many clips per artist and some duplicates, so models learn artist",
        "  and production cues. Random-split numbers are 10-20 points above artist-filtered",
        "  ones for the same system.",
        "- **The artist-filtered split** is the honest comparison: there, handcrafted features",
        "  with an SVM score about 53%, and the best pretrained audio models about 80%. Compare",
        "  a new model with the anchors above only on that split.",
        "",
        "Regenerate this page with `python tools/make_results.py`; the full reports (confusion",
        "matrices, per-class F1, importances, training curves) are written under",
        f"`{args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}/`.",
        "",
    ]
    write_text(args.doc, "\n".join(lines))
    print(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
