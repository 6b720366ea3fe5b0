"""Ensembles of trained bundles, usable wherever a bundle is: ``classify``, ``evaluate``, ``serve``.

Members keep their own front ends, sample rates and windows. The ensemble bundle stores a
full copy of every member bundle in its ``model/`` folder and reads raw audio (front end
``{"kind": "raw_windows"}``) in windows as long as its longest member's, at its highest
member rate. For each ensemble window every member answers exactly as ``classify`` would
on that stretch of audio (resample, cut its own windows, its front end, mean probability),
and the ensemble combines the answers:

* ``soft``: a weighted mean of the members' probabilities. Weights are given, or learnt
  by minimising the log-loss on labelled tracks (``--data``), or equal;
* ``stack``: a logistic regression over the members' probabilities, fit on labelled tracks.

Labels are the union of the members' labels; a member gives probability zero to a genre it
does not know, so mixing members trained on different genre sets favours the genres most
members know. Fit the weights on tracks the members were not trained on (a validation split):
on their own training tracks every member looks perfect and the weights learn nothing, so
rows a member's card lists among its ``training.fitted_ids`` are left out unless asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from genrelab.data.fitted import FITTED_KEY, fitted_ids, record, row_ids
from genrelab.errors import DataError, ModelError
from genrelab.features.frontends import Frontend, register_frontend
from genrelab.models import trust
from genrelab.models.base import GenreModel, register_model
from genrelab.models.bundle import Bundle, ModelCard, load_bundle
from genrelab.models.combine import align, soft_vote, weights_or_equal
from genrelab.models.portable import PortablePredictor, export_pipeline

METHODS = ("soft", "stack")
FRONTEND = {"kind": "raw_windows"}
_COMBINER = "combiner.json"
_STACKER = "stacker.joblib"
#: The stacker as plain arrays (no pickle), what saving writes when it can.
_STACKER_NPZ = "stacker.npz"


@dataclass
class RawWindows:
    """A batch of audio windows and their sample rate: what an ensemble's members start from."""

    windows: list[np.ndarray]
    sr: int

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, part: slice) -> RawWindows:
        return RawWindows(self.windows[part], self.sr)

    def __add__(self, other: RawWindows) -> RawWindows:
        return RawWindows(self.windows + other.windows, self.sr)


@register_frontend("raw_windows")
def raw_windows_frontend() -> Frontend:
    """Pass windows through untouched: each ensemble member applies its own front end."""

    def compute(windows: Sequence[np.ndarray], sr: int) -> RawWindows:
        return RawWindows([np.asarray(w, dtype=np.float32) for w in windows], int(sr))

    return compute


@register_model("bundle_ensemble")
class BundleEnsembleModel(GenreModel):
    """``members`` describes the member bundles (for the card); ``weights`` fixes soft weights."""

    input_kind = "raw_windows"

    def __init__(
        self,
        method: str = "soft",
        weights: list[float] | None = None,
        members: list[dict[str, Any]] | None = None,
    ):
        if method not in METHODS:
            raise ModelError(f"unknown ensemble method {method!r}; use {' or '.join(METHODS)}")
        self.method = method
        self.weights = weights
        self.members = members or []
        if weights is not None and self.members and len(weights) != len(self.members):
            raise ModelError(f"{len(self.members)} members but {len(weights)} weights")

    # -- members ------------------------------------------------------------------------------

    def set_members(self, bundles: Sequence[Bundle]) -> BundleEnsembleModel:
        self.bundles_ = list(bundles)
        self.classes_ = np.asarray(sorted({label for b in bundles for label in b.labels}))
        self.weights_ = weights_or_equal(self.weights, len(self.bundles_))
        self.stacker_: Any = None
        self._pipelines: list[Any] | None = None
        return self

    @property
    def pipelines(self) -> list[Any]:
        from genrelab.pipeline import Pipeline

        if self._pipelines is None:
            self._pipelines = [Pipeline(b) for b in self.bundles_]
        return self._pipelines

    def align(self, labels: Sequence[str], proba: np.ndarray) -> np.ndarray:
        """Member probabilities over ``labels`` as columns of the ensemble's ``classes_``."""
        return align(proba, labels, self.classes_)

    def member_proba(self, X: RawWindows) -> np.ndarray:
        """``(windows, members, classes)``: each member's answer for each window, as
        ``classify`` would give it on that stretch of audio."""
        out = np.zeros((len(X), len(self.bundles_), len(self.classes_)))
        for m, pipeline in enumerate(self.pipelines):
            results = [pipeline.classify(w, X.sr, tags=False) for w in X.windows]
            rows = np.array([[r.probabilities[c] for c in pipeline.labels] for r in results])
            out[:, m] = self.align(pipeline.labels, rows)
        return out

    # -- combining ------------------------------------------------------------------------------

    def combine(self, P: np.ndarray) -> np.ndarray:
        """Ensemble probabilities from member probabilities ``P`` (windows, members, classes)."""
        if self.method == "soft":
            return soft_vote([P[:, m] for m in range(P.shape[1])], self.weights_)
        if self.stacker_ is None:
            raise ModelError("a stacking ensemble must be fit on labelled tracks first")
        out = np.zeros((len(P), len(self.classes_)))
        index = {c: i for i, c in enumerate(self.classes_)}
        columns = [index[str(c)] for c in self.stacker_.classes_]
        out[:, columns] = self.stacker_.predict_proba(P.reshape(len(P), -1))
        return out

    def fit_combiner(self, P: np.ndarray, y: Sequence[str]) -> BundleEnsembleModel:
        """Learn soft weights (unless fixed) or the stacking model from labelled answers."""
        y = np.asarray(y, dtype=str)
        if self.method == "stack":
            from sklearn.linear_model import LogisticRegression

            self.stacker_ = LogisticRegression(C=1.0, max_iter=2000).fit(P.reshape(len(P), -1), y)
        elif self.weights is None:
            self.weights_ = fit_soft_weights(P, self._targets(y))
        return self

    def _targets(self, y: np.ndarray) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes_)}
        if unknown := sorted(set(y) - index.keys()):
            raise DataError(f"labels {', '.join(unknown)} are unknown to every member")
        return np.array([index[label] for label in y])

    # -- GenreModel ------------------------------------------------------------------------------

    def fit(self, X, y, *, X_valid=None, y_valid=None) -> BundleEnsembleModel:
        """Fit the combination on raw windows ``X`` (a :class:`RawWindows`) with labels ``y``."""
        return self.fit_combiner(self.member_proba(X), y)

    def predict_proba(self, X: RawWindows) -> np.ndarray:
        if not isinstance(X, RawWindows):
            raise ModelError("a bundle ensemble reads audio windows (front end 'raw_windows')")
        return self.combine(self.member_proba(X))

    def save(self, directory: Path) -> None:
        for i, bundle in enumerate(self.bundles_):
            bundle.save(directory / f"member-{i}")
        (directory / _COMBINER).write_text(json.dumps({"weights": self.weights_.tolist()}) + "\n")
        if self.stacker_ is not None:
            arrays = export_pipeline(self.stacker_)
            if arrays is None:  # not a plain logistic regression: only a pickle can hold it
                joblib.dump(self.stacker_, directory / _STACKER)
            else:
                classes = np.asarray(self.stacker_.classes_, dtype=str)
                PortablePredictor({**arrays, "classes": classes}).save(directory / _STACKER_NPZ)

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> BundleEnsembleModel:
        model = cls(**params)
        count = len(model.members)
        model.set_members([load_bundle(directory / f"member-{i}") for i in range(count)])
        model.weights_ = np.asarray(json.loads((directory / _COMBINER).read_text())["weights"])
        if (directory / _STACKER_NPZ).is_file():
            model.stacker_ = PortablePredictor.load(directory / _STACKER_NPZ)
        elif (directory / _STACKER).is_file():
            trust.require_pickle(directory / _STACKER)
            model.stacker_ = joblib.load(directory / _STACKER)
        return model


def fit_soft_weights(P: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Weights on the simplex minimising the log-loss of the weighted mean (softmax-param)."""
    from scipy.optimize import minimize
    from scipy.special import softmax

    picked = P[np.arange(len(P)), :, targets]  # (tracks, members): each member's p(true)

    def loss(z: np.ndarray) -> float:
        return float(-np.mean(np.log(np.clip(picked @ softmax(z), 1e-9, None))))

    start = np.zeros(P.shape[1])
    return softmax(minimize(loss, start, method="L-BFGS-B").x)


# -- building ------------------------------------------------------------------------------------


def _describe(bundle: Bundle, source: str) -> dict[str, Any]:
    card = bundle.card
    return {
        "model": card.model,
        "source": source,
        "labels": list(card.labels),
        "sample_rate": card.sample_rate,
        "frontend": card.frontend,
        "windowing": card.windowing,
    }


def table_proba(bundle: Bundle, df: Any, source: str = "the data") -> np.ndarray:
    """Probabilities (the bundle's label order) for the rows of a gtzan57 feature table.

    A feature bundle reads the rows directly; an ensemble combines its members' answers, so
    it reads a table whenever every member does.
    """
    from genrelab.training import table_features

    frontend = bundle.card.frontend
    if isinstance(bundle.model, BundleEnsembleModel):
        model = bundle.model
        P = np.stack([model.align(b.labels, table_proba(b, df, source)) for b in model.bundles_], 1)
        return model.combine(P)
    if frontend.get("kind") != "features" or frontend.get("feature_set") != "gtzan57":
        raise DataError(
            f"{source} is a feature table, but a {bundle.card.model} bundle reads "
            f"{frontend.get('kind')!r} input; give it audio"
        )
    return bundle.model.predict_proba(df[table_features(df)].to_numpy(np.float64))


def member_track_proba(
    bundle: Bundle, df: Any, on_track: Callable[[], None] | None = None
) -> tuple[np.ndarray, list[int]]:
    """A member's probabilities per track of ``df`` (its labels' order) and the rows answered.

    A feature table is read directly by members whose front end computes the same features;
    audio goes through the member's own ``classify`` path.
    """
    from genrelab.pipeline import Classifier
    from genrelab.training import table_features

    if table_features(df):
        return table_proba(bundle, df), list(range(len(df)))
    classifier = Classifier(bundle)
    rows, kept = [], []
    for i, result in enumerate(classifier.classify_many(df["path"].tolist(), tags=False)):
        if on_track is not None:
            on_track()
        if result.ok:
            rows.append([result.probabilities[c] for c in classifier.labels])
            kept.append(i)
    return np.asarray(rows).reshape(len(kept), len(classifier.labels)), kept


def labelled_tracks(spec: str, split: str = "valid", protocol: str | None = None, seed: int = 0):
    """The rows of a dataset to fit ensemble weights on: one ``split``, or ``all``."""
    from genrelab.data import apply_split, load_dataset

    df = load_dataset(spec)
    if protocol:
        df = apply_split(df, protocol, seed=seed)
    if split != "all":
        df = df[df["split"] == split]
        if df.empty:
            raise DataError(
                f"{spec}: no rows in split {split!r}; give --protocol to assign splits, "
                "or --split all"
            )
    return df.reset_index(drop=True)


def _unseen_rows(
    df: Any,
    fitted: list[set[str] | None],
    members: list[dict[str, Any]],
    include_seen: bool,
    note: Callable[[str], None],
) -> tuple[Any, int]:
    """``df`` less the rows any member was fitted on, and how many those were."""
    if unknown := [m["source"] for m, f in zip(members, fitted, strict=True) if f is None]:
        note(
            f"warning: the card of {', '.join(unknown)} does not list what it was fitted on, "
            "so the combiner may be fit on its training rows"
        )
    known = set().union(*(f for f in fitted if f is not None))
    seen = np.array([i in known for i in row_ids(df)], dtype=bool)
    count = int(seen.sum())
    if not count:
        return df, 0
    if include_seen:
        note(f"warning: {count} of {len(df)} rows were used to fit a member (--include-seen)")
        return df, count
    if count == len(df):
        raise DataError(
            f"all {count} rows were used to fit a member, so none is left to fit the "
            "combiner on (--include-seen uses them anyway)"
        )
    note(f"skipped {count} rows the members were fitted on (--include-seen to use them)")
    return df[~seen].reset_index(drop=True), count


def cross_validated(model: BundleEnsembleModel, P: np.ndarray, y: np.ndarray, folds: int = 5):
    """Out-of-fold ensemble predictions: each track answered by a combiner fit without it."""
    from sklearn.model_selection import StratifiedKFold

    counts = np.unique(y, return_counts=True)[1]
    k = int(min(folds, counts.min()))
    if k < 2:
        return None
    predicted = np.empty(len(y), dtype=object)
    for train, test in StratifiedKFold(k, shuffle=True, random_state=0).split(P, y):
        fold = BundleEnsembleModel(model.method, model.weights, model.members)
        fold.set_members(model.bundles_).fit_combiner(P[train], y[train])
        predicted[test] = fold.classes_[np.argmax(fold.combine(P[test]), axis=1)]
    return predicted.astype(str), k


def build_ensemble(
    sources: Sequence[str | Path],
    method: str = "soft",
    weights: Sequence[float] | None = None,
    data: str | None = None,
    split: str = "valid",
    protocol: str | None = None,
    seed: int = 0,
    on_track: Callable[[], None] | None = None,
    include_seen: bool = False,
    on_note: Callable[[str], None] | None = None,
) -> Bundle:
    """An ensemble bundle over existing bundles; ``data`` (labelled tracks) fits the combiner.

    Rows of ``data`` that any member was fitted on are left out (``include_seen`` keeps
    them): on its own training rows a member looks perfect, and the combiner would learn to
    trust it. ``on_note`` receives what was skipped or could not be checked.
    """
    from genrelab.evaluation.metrics import classification_metrics

    if len(sources) < 2:
        raise ModelError("an ensemble needs at least two member bundles")
    if method == "stack" and data is None:
        raise DataError("a stacking ensemble needs labelled tracks to fit on: give --data")
    if method == "stack" and weights is not None:
        raise ModelError("weights apply to soft voting; stacking learns its own combination")
    bundles = [load_bundle(s) for s in sources]
    members = [_describe(b, str(s)) for b, s in zip(bundles, sources, strict=True)]
    model = BundleEnsembleModel(method, list(weights) if weights else None, members)
    model.set_members(bundles)
    longest = max(bundles, key=lambda b: float(b.card.windowing.get("window_s", 30.0)))
    window = float(longest.card.windowing.get("window_s", 30.0))
    windowing = {
        "window_s": window,
        "hop_s": float(longest.card.windowing.get("hop_s", window)),
        "min_s": max(float(b.card.windowing.get("min_s", 0.0)) for b in bundles),
    }
    training: dict[str, Any] = {"members": [f"{m['model']} ({m['source']})" for m in members]}
    validation: list[dict[str, Any]] = []
    combiner_rows: list[str] = []
    fitted = [fitted_ids(b.card.training) for b in bundles]
    if data is not None:
        df = labelled_tracks(data, split, protocol, seed)
        df, seen = _unseen_rows(df, fitted, members, include_seen, on_note or (lambda _: None))
        training["seen_rows"] = seen
        answers = [member_track_proba(b, df, on_track) for b in bundles]
        kept = sorted(set.intersection(*(set(rows) for _, rows in answers)))
        if len(kept) < 2:
            raise DataError(f"{data}: fewer than two tracks could be classified by every member")
        P = np.stack(
            [
                model.align(b.labels, proba[[rows.index(i) for i in kept]])
                for b, (proba, rows) in zip(bundles, answers, strict=True)
            ],
            axis=1,
        )  # (tracks, members, classes), on the tracks every member could answer
        y = df["label"].astype(str).to_numpy()[kept]
        model.fit_combiner(P, y)
        ids = row_ids(df)
        combiner_rows = [ids[i] for i in kept]
        labels = sorted(set(model.classes_) | set(y))
        where = f"{data} ({split}{', ' + protocol if protocol else ''})"
        training.update(data=where, tracks=len(kept))
        scored = cross_validated(model, P, y)
        if scored is not None:
            predicted, k = scored
            validation.append(
                {
                    "protocol": f"ensemble fit and scored on {where}, {k}-fold cross-validated",
                    "split": split,
                    "metrics": classification_metrics(y, predicted, labels),
                }
            )
        training["member_accuracy"] = [
            float(np.mean(model.classes_[np.argmax(P[:, m], axis=1)] == y))
            for m in range(len(bundles))
        ]
    if method == "soft":
        training["weights"] = [round(float(w), 4) for w in model.weights_]
    if all(f is not None for f in fitted):  # one unknown member makes the ensemble's unknown
        training[FITTED_KEY] = record(set().union(*fitted, combiner_rows))
    card = ModelCard(
        model="bundle_ensemble",
        params=model.get_params(),
        labels=[str(c) for c in model.classes_],
        sample_rate=max(int(b.card.sample_rate) for b in bundles),
        frontend=dict(FRONTEND),
        windowing=windowing,
        training=training,
        validation=validation,
        description=f"{method} ensemble of {len(bundles)} bundles",
    )
    return Bundle(card, model)
