"""Run several models under the same protocol and seeds, and tabulate how they score.

A protocol is cut into *runs* -- the folds of ``kfold-K`` or one split per seed of a
single-split protocol -- and every model sees exactly the same runs. Each run fits on
``train`` (neural models also watch ``valid``) and scores whole tracks of ``test`` (the mean
probability over a track's windows, as ``classify`` answers), so the spread is over folds or
over seeds. Fit and inference time are the model's own: precomputed features are not re-timed.

``random-rows-A-B-C`` and ``kfold-rows-K`` split windows (rows) at random, ignoring which
track they come from. They exist to show the leak behind many published GTZAN numbers: with
the Kaggle 3-second table split by row, segments of one recording land on both sides and the
model recognises the recording, not the genre. Every run counts the tracks it leaks, and the
leaderboard, the report and the command flag them.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from genrelab.errors import DataError
from genrelab.protocols import Protocol, parse_protocol
from genrelab.training import AudioData

#: Leaderboard columns, in order.
COLUMNS = (
    "model",
    "protocol",
    "runs",
    "accuracy",
    "accuracy_std",
    "balanced_accuracy",
    "balanced_accuracy_std",
    "macro_f1",
    "macro_f1_std",
    "fit_s",
    "predict_ms_per_track",
    "leak",
    "leaked_tracks",
)


def check_protocol(protocol: str) -> Protocol:
    """The parsed protocol, if ``compare`` runs it (cross-source runs on its own)."""
    parsed = parse_protocol(protocol)
    if parsed.kind == "cross-source":
        raise DataError("cross-source runs on its own, with test sources (--test-data)")
    return parsed


@dataclass
class Run:
    """One fit: ``split`` names every row's part (``train``, ``valid``, ``test`` or ``''``)."""

    name: str
    seed: int
    split: np.ndarray

    def mask(self, part: str) -> np.ndarray:
        return self.split == part

    def leaked(self, groups: np.ndarray) -> list[str]:
        """Tracks with rows both in ``train`` and in ``valid``/``test``."""
        seen = set(groups[self.mask("train")])
        held = set(groups[self.mask("valid") | self.mask("test")])
        return sorted(map(str, seen & held))


def protocol_runs(
    tracks: pd.DataFrame,
    groups: np.ndarray,
    labels: np.ndarray,
    protocol: str,
    seeds: Sequence[int],
) -> list[Run]:
    """The runs of ``protocol`` over rows with track ``groups`` and ``labels``.

    ``tracks`` (one row per group: ``group``, ``label``, ``split``) is what grouped protocols
    split; row protocols split the rows themselves. K-fold uses the first seed.
    """
    from genrelab.data import apply_split, kfold

    parsed = check_protocol(protocol)
    if not seeds:
        raise DataError("give at least one seed")
    groups = np.asarray(groups).astype(str)
    rows = parsed.rows
    if rows:
        units = pd.DataFrame(
            {"label": np.asarray(labels, str), "group": np.arange(len(groups)).astype(str)}
        )
        units["split"] = ""
    else:
        units = tracks[["group", "label", "split"]].reset_index(drop=True)
        units["group"] = units["group"].astype(str)

    def per_row(unit_split: np.ndarray) -> np.ndarray:
        if rows:
            return unit_split
        return pd.Series(unit_split, index=units["group"]).reindex(groups).fillna("").to_numpy()

    if parsed.kfold:
        runs = []
        for i, (_, test) in enumerate(kfold(units, parsed.k, seed=seeds[0])):
            split = np.full(len(units), "train", dtype=object)
            split[test] = "test"
            runs.append(Run(f"fold {i + 1}", seeds[0], per_row(split).astype(str)))
        return runs
    base = parsed.grouped().name
    return [
        Run(
            f"seed {seed}",
            seed,
            per_row(apply_split(units, base, seed=seed)["split"].to_numpy()).astype(str),
        )
        for seed in seeds
    ]


@dataclass
class RunResult:
    """What one run of one model gave, on the test tracks of that run."""

    name: str
    seed: int
    truth: list[str]
    predicted: list[str]
    metrics: dict[str, Any]
    fit_s: float
    predict_s: float
    leaked: list[str] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    importances: list[float] | None = None


@dataclass
class Entry:
    """One model under one protocol: its runs and what the leaderboard shows of them."""

    model: str
    protocol: str
    params: dict[str, Any]
    labels: list[str]
    runs: list[RunResult]
    feature_names: list[str] | None = None

    @property
    def leaked_tracks(self) -> list[str]:
        return sorted({t for r in self.runs for t in r.leaked})

    @property
    def leak(self) -> bool:
        return bool(self.leaked_tracks)

    def pooled(self) -> dict[str, Any]:
        """Metrics of every run's test predictions together (confusion matrix, per-class F1)."""
        from genrelab.evaluation.metrics import classification_metrics

        truth = [t for r in self.runs for t in r.truth]
        predicted = [p for r in self.runs for p in r.predicted]
        return classification_metrics(truth, predicted, self.labels)

    def summary(self) -> dict[str, Any]:
        from genrelab.evaluation.metrics import summarize_folds

        stats = summarize_folds([r.metrics for r in self.runs])
        tracks = sum(len(r.truth) for r in self.runs)
        return {
            "model": self.model,
            "protocol": self.protocol,
            "runs": len(self.runs),
            **{k: stats[k] for k in COLUMNS[3:9]},
            "fit_s": float(np.mean([r.fit_s for r in self.runs])),
            "predict_ms_per_track": 1000 * sum(r.predict_s for r in self.runs) / max(1, tracks),
            "leak": self.leak,
            "leaked_tracks": len(self.leaked_tracks),
        }

    def mean_importances(self) -> np.ndarray | None:
        rows = [r.importances for r in self.runs if r.importances is not None]
        return np.mean(rows, axis=0) if rows else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        runs = [RunResult(**r) for r in data["runs"]]
        return cls(**{**data, "runs": runs})


def with_seed(model: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """``params`` plus ``seed`` where the model takes one and the user did not fix it."""
    from genrelab.models import model_class

    if "seed" in inspect.signature(model_class(model)).parameters and "seed" not in params:
        return {**params, "seed": seed}
    return dict(params)


def _importances(model: Any) -> list[float] | None:
    getter = getattr(model, "feature_importances", None)
    return [float(v) for v in getter()] if callable(getter) else None


def run_feature_model(
    data: Any, model: str, params: dict[str, Any], run: Run, part: str = "test"
) -> RunResult:
    """Fit on the run's ``train`` rows of a :class:`~genrelab.training.FeatureData`, score ``part``."""
    from genrelab.evaluation.metrics import classification_metrics
    from genrelab.models import create_model
    from genrelab.training import track_predictions

    train, valid, test = run.mask("train"), run.mask("valid"), run.mask(part)
    if not train.any() or not test.any():
        raise DataError(f"{run.name} of the protocol leaves no {part} or no train rows")
    estimator = create_model(model, **with_seed(model, params, run.seed))
    started = time.perf_counter()
    estimator.fit(
        data.X[train],
        data.labels[train],
        X_valid=data.X[valid] if valid.any() else None,
        y_valid=data.labels[valid] if valid.any() else None,
    )
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    tracks, predicted = track_predictions(estimator, data.X[test], data.groups[test])
    predict_s = time.perf_counter() - started
    truth = data.tracks.set_index("group").loc[tracks, "label"].astype(str).tolist()
    labels = sorted(set(data.labels))
    return RunResult(
        name=run.name,
        seed=run.seed,
        truth=truth,
        predicted=[str(p) for p in predicted],
        metrics=_headline(classification_metrics(truth, predicted, labels)),
        fit_s=fit_s,
        predict_s=predict_s,
        leaked=run.leaked(data.groups),
        history=list(getattr(estimator, "history_", []) or []),
        importances=_importances(estimator),
    )


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """Per-run metrics without the matrices (those are pooled over runs)."""
    return {k: metrics[k] for k in ("n", "accuracy", "balanced_accuracy", "macro_f1")}


def load_audio_tracks(spec: str, sr: int = 22050) -> AudioData:
    """Decode every track of an audio dataset once, keeping its group, label and split."""
    from genrelab.data import load_dataset
    from genrelab.training import decode_tracks, table_features

    df = load_dataset(spec)
    if table_features(df):
        raise DataError(f"{spec} is a feature table; models reading audio need audio files")
    return decode_tracks(df, spec, sr)


def run_audio_model(
    data: AudioData,
    model: str,
    params: dict[str, Any],
    run: Run,
    part: str = "test",
    window_s: float = 3.0,
) -> RunResult:
    """Train a neural model on the run's ``train`` tracks (``valid`` per epoch), score ``part``."""
    from genrelab.evaluation.metrics import classification_metrics
    from genrelab.neural.training import train_on_audio
    from genrelab.pipeline import Pipeline

    if not (run.mask("train").any() and run.mask(part).any()):
        raise DataError(f"{run.name} of the protocol leaves no {part} or no train tracks")
    # the trainer scores what it sees in its card; the scored part is left to us, timed
    seen = np.where(run.mask(part), "", run.split)
    started = time.perf_counter()
    bundle = train_on_audio(
        AudioData(data.tracks.assign(split=seen), data.audio, data.sr, data.source),
        model,
        with_seed(model, params, run.seed),
        window_s=window_s,
        progress=False,
        protocol=run.name,
        split_seed=run.seed,
    )
    fit_s = time.perf_counter() - started
    pipeline = Pipeline(bundle)
    test = np.flatnonzero(run.mask(part))
    started = time.perf_counter()
    predicted = [pipeline.classify(data.audio[i], data.sr, tags=False).genre for i in test]
    predict_s = time.perf_counter() - started
    truth = data.tracks["label"].iloc[test].astype(str).tolist()
    labels = sorted(set(data.tracks["label"].astype(str)))
    return RunResult(
        name=run.name,
        seed=run.seed,
        truth=truth,
        predicted=predicted,
        metrics=_headline(classification_metrics(truth, predicted, labels)),
        fit_s=fit_s,
        predict_s=predict_s,
        history=list(getattr(bundle.model, "history_", []) or []),
    )


def reads_features(model: str) -> bool:
    """Whether ``model`` takes feature vectors (else it trains on audio windows)."""
    from genrelab.models import model_class

    return model_class(model).input_kind == "features"


@dataclass
class Prepared:
    """One model's data: rows with their track, and how to fit and score a run on them."""

    tracks: pd.DataFrame
    groups: np.ndarray
    labels: np.ndarray
    feature_names: list[str] | None
    fit_and_score: Callable[[str, dict[str, Any], Run, str], RunResult]

    def runs(self, protocol: str, seeds: Sequence[int]) -> list[Run]:
        return protocol_runs(self.tracks, self.groups, self.labels, protocol, seeds)


class Inputs:
    """A dataset read once per kind of input: feature vectors, or decoded audio tracks.

    Feature models read ``feature_set`` vectors of ``window_s`` windows (or the rows of a
    feature table); the other models train on ``audio_window_s`` windows of the audio.
    """

    def __init__(
        self,
        spec: str,
        *,
        feature_set: str = "gtzan57",
        window_s: float = 30.0,
        hop_s: float | None = None,
        audio_window_s: float = 3.0,
        cache_dir: str | None = None,
        n_jobs: int = 1,
    ):
        self.spec, self.feature_set = spec, feature_set
        self.window_s, self.hop_s, self.audio_window_s = window_s, hop_s, audio_window_s
        self.cache_dir, self.n_jobs = cache_dir, n_jobs
        self._features: Any = None
        self._audio: AudioData | None = None

    @property
    def features(self) -> Any:
        from genrelab.training import load_feature_data

        if self._features is None:
            self._features = load_feature_data(
                self.spec,
                self.feature_set,
                self.window_s,
                self.hop_s,
                cache_dir=self.cache_dir,
                n_jobs=self.n_jobs,
            )
        return self._features

    @property
    def audio(self) -> AudioData:
        if self._audio is None:
            self._audio = load_audio_tracks(self.spec)
        return self._audio

    def errors(self) -> list[tuple[str, str]]:
        """Files that could not be read, by whichever loaders ran."""
        return [*getattr(self._features, "errors", []), *getattr(self._audio, "errors", [])]

    def prepare(self, model: str, protocol: str) -> Prepared:
        from genrelab.features.sets import get_feature_set

        if reads_features(model):
            data = self.features

            def fit_and_score(name: str, params: dict[str, Any], run: Run, part: str) -> RunResult:
                return run_feature_model(data, name, params, run, part)

            names = list(get_feature_set(self.feature_set).names)
            return Prepared(data.tracks, data.groups, data.labels, names, fit_and_score)
        if check_protocol(protocol).rows:
            raise DataError(f"{protocol} splits feature rows; {model!r} trains on whole tracks")
        audio = self.audio

        def fit_and_score_audio(
            name: str, params: dict[str, Any], run: Run, part: str
        ) -> RunResult:
            return run_audio_model(audio, name, params, run, part, self.audio_window_s)

        tracks = audio.tracks
        return Prepared(
            tracks,
            tracks["group"].to_numpy(),
            tracks["label"].to_numpy(str),
            None,
            fit_and_score_audio,
        )


ProgressFn = Callable[[str, str, RunResult], None]


def compare(
    inputs: Inputs,
    models: Sequence[str],
    protocols: Sequence[str],
    seeds: Sequence[int] = (0,),
    params: dict[str, dict[str, Any]] | None = None,
    on_run: ProgressFn | None = None,
) -> list[Entry]:
    """Every model under every protocol, on the same runs; one :class:`Entry` each."""
    from genrelab.models import model_class

    protocols = [check_protocol(p).name for p in protocols]
    for name in models:
        model_class(name)  # unknown names fail before any data is read
    params = params or {}
    if unknown := sorted(set(params) - set(models)):
        raise DataError(f"parameters given for model(s) not compared: {', '.join(unknown)}")
    entries: list[Entry] = []
    for protocol in protocols:
        for name in models:
            prepared = inputs.prepare(name, protocol)
            results = []
            for run in prepared.runs(protocol, seeds):
                results.append(prepared.fit_and_score(name, params.get(name, {}), run, "test"))
                if on_run is not None:
                    on_run(name, protocol, results[-1])
            entries.append(
                Entry(
                    model=name,
                    protocol=protocol,
                    params=params.get(name, {}),
                    labels=sorted(set(map(str, prepared.labels))),
                    runs=results,
                    feature_names=prepared.feature_names,
                )
            )
    return entries


def leaderboard(entries: Sequence[Entry]) -> pd.DataFrame:
    """One row per model and protocol, best accuracy first within each protocol."""
    frame = pd.DataFrame([e.summary() for e in entries], columns=list(COLUMNS))
    order = {p: i for i, p in enumerate(dict.fromkeys(e.protocol for e in entries))}
    frame["_order"] = frame["protocol"].map(order)
    frame = frame.sort_values(["_order", "accuracy"], ascending=[True, False], kind="stable")
    return frame.drop(columns="_order").reset_index(drop=True)


def leak_message(entries: Sequence[Entry]) -> str | None:
    """One paragraph naming the leaking protocols, or ``None`` when nothing leaks."""
    leaking = {e.protocol: len(e.leaked_tracks) for e in entries if e.leak}
    if not leaking:
        return None
    parts = ", ".join(f"{p} ({n} tracks)" for p, n in leaking.items())
    return (
        f"DATA LEAK: {parts} put windows of the same track on both sides of a split. "
        "The model can recognise the recording instead of the genre, so these scores are "
        "inflated and not comparable with track- or artist-grouped protocols."
    )
