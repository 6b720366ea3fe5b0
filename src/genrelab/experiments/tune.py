"""Hyper-parameter tuning with Optuna: TPE sampling, median pruning, resumable SQLite studies.

A study lives in ``<study_dir>/study.db``. Running ``tune`` again on the same folder resumes
it: finished trials are kept and the run stops when the study holds ``n_trials`` finished ones.
A trial that a killed run left half-done is marked failed (not counted) and its parameters
are queued to run first, so nothing is lost or repeated.

The first trial of a new study is the model's defaults (its constructor's, with the user's
fixed parameters), so the tuned model is never worse on the study's folds than the untuned
one. Its ``params`` are empty (the defaults need not lie in the search space); the values it
used are in its ``model_params`` user attribute, like every trial's.

Resumed studies match uninterrupted ones: the sampler is reseeded before every trial from the
seed and the number of trials finished so far, and every trial is scored on the same folds
(or split), so the same seed gives the same trials and the same best value either way.

Feature models report the running mean score after every fold, so the median pruner can stop
a poor trial early; single-split protocols score the ``valid`` part (never ``test``).
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.atomic import write_text
from genrelab.errors import DataError, GenrelabError
from genrelab.experiments.compare import (
    Inputs,
    Prepared,
    Run,
    check_protocol,
    with_seed,
)
from genrelab.protocols import parse_protocol

STUDY_DB = "study.db"
STUDY_NAME = "genrelab"
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
#: Study attributes that must match for a run to resume a study.
SETTINGS = ("model", "data", "protocol", "seed", "metric", "fixed", "inputs")
#: User attribute of the trial that runs the model's defaults.
DEFAULTS = "defaults"


def storage_url(study_dir: str | Path) -> str:
    return f"sqlite:///{Path(study_dir).resolve() / STUDY_DB}"


@dataclass
class TuneResult:
    study_dir: Path
    best_value: float
    #: What the best model was built with (the seed included).
    best_params: dict[str, Any]
    best_trial: int
    finished: int
    states: dict[str, int]
    #: Whether the best trial is the defaults trial.
    best_is_defaults: bool = False

    def shown_params(self, fixed: dict[str, Any]) -> dict[str, Any]:
        """The best parameters to print: the seed only where the user fixed it."""
        return {k: v for k, v in self.best_params.items() if k != "seed" or "seed" in fixed}


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as err:
        raise GenrelabError("tuning needs Optuna: pip install optuna") from err

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _finished(study: Any) -> list[Any]:
    """Trials that count towards the budget: finished ones, less those a killed run left."""
    trials = study.get_trials(deepcopy=False)
    return [t for t in trials if t.state.is_finished() and t.number not in _retried(trials)]


def _retried(trials: list[Any]) -> set[int]:
    """Numbers of the trials a killed run left, each queued again as a new trial."""
    return {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}


def recover_interrupted(study: Any) -> list[int]:
    """Fail trials left running by a killed run and queue their parameters to run again.

    ``tune`` runs one trial at a time, so a trial still ``RUNNING`` when a run starts was
    orphaned by a run that died; do not point two ``tune`` processes at one study folder.
    """
    from optuna.trial import TrialState

    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        attrs = {"retry_of": trial.number}
        if trial.user_attrs.get(DEFAULTS):
            attrs[DEFAULTS] = True
        study.enqueue_trial(trial.params, user_attrs=attrs)
        recovered.append(trial.number)
    return recovered


def _sampler_seed(seed: int, position: int) -> int:
    return int(np.random.SeedSequence([seed, position]).generate_state(1)[0])


def open_study(study_dir: Path, settings: dict[str, Any]) -> Any:
    """Create or resume the study in ``study_dir``; different settings are a DataError."""
    optuna = _optuna()
    study_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=storage_url(study_dir),
        study_name=STUDY_NAME,
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
        load_if_exists=True,
    )
    stored = study.user_attrs
    if not stored:
        for key, value in settings.items():
            study.set_user_attr(key, value)
    elif changed := [k for k in SETTINGS if stored.get(k) != settings[k]]:
        raise DataError(
            f"the study in {study_dir} was run with other settings ({', '.join(changed)}: "
            f"{', '.join(repr(stored.get(k)) for k in changed)}); "
            "rerun with the same settings to resume it, or choose another --study-dir"
        )
    return study


class _Probe:
    """A stand-in trial answering every suggestion with its lowest choice."""

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        return low

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        return low

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        return choices[0]


def default_params(model: str, fixed: dict[str, Any]) -> dict[str, Any]:
    """The model's constructor defaults, with the user's fixed constructor arguments."""
    from genrelab.models import model_class

    accepted = inspect.signature(model_class(model)).parameters
    defaults = {k: p.default for k, p in accepted.items() if p.default is not p.empty}
    return {**defaults, **{k: v for k, v in fixed.items() if k in accepted}}


def make_objective(
    prepared: Prepared,
    model: str,
    runs: list[Run],
    part: str,
    metric: str,
    fixed: dict[str, Any],
    seed: int,
) -> Callable[[Any], float]:
    """Mean ``metric`` over the runs, reported after each so the pruner can stop early."""
    optuna = _optuna()
    from genrelab.experiments.spaces import suggest_params

    def objective(trial: Any) -> float:
        if trial.user_attrs.get(DEFAULTS):
            params = with_seed(model, default_params(model, fixed), seed)
        else:
            params = with_seed(model, suggest_params(model, trial, fixed), seed)
        trial.set_user_attr("model_params", params)
        scores = []
        for step, run in enumerate(runs):
            result = prepared.fit_and_score(model, params, run, part)
            scores.append(result.metrics[metric])
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    return objective


def tune(
    inputs: Inputs,
    model: str,
    n_trials: int,
    study_dir: str | Path,
    protocol: str = "kfold-5",
    seed: int = 0,
    metric: str = "accuracy",
    fixed: dict[str, Any] | None = None,
    on_trial: Callable[[Any, int], None] | None = None,
) -> tuple[TuneResult, Any]:
    """Run (or resume) the study until it holds ``n_trials`` finished trials.

    Returns the summary and the study. ``on_trial(trial, finished)`` is called after each.
    """
    from genrelab.models import model_class

    model_class(model)
    parsed = check_protocol(protocol)
    protocol = parsed.name
    if metric not in METRICS:
        raise DataError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    if parsed.rows:
        raise DataError(
            f"{protocol} leaks tracks between splits; tuning on it would reward memorising "
            "recordings. Use kfold-K, random-A-B-C or gtzan-filtered"
        )
    if n_trials < 1:
        raise DataError("the number of trials must be at least 1")
    fixed = dict(fixed or {})
    study_dir = Path(study_dir)
    settings = {
        "model": model,
        "data": str(inputs.spec),
        "protocol": protocol,
        "seed": seed,
        "metric": metric,
        "fixed": json.loads(json.dumps(fixed)),
        "inputs": {
            "feature_set": inputs.feature_set,
            "window_s": inputs.window_s,
            "hop_s": inputs.hop_s,
            "audio_window_s": inputs.audio_window_s,
        },
    }
    study = open_study(study_dir, settings)
    if not study.get_trials(deepcopy=False):
        from genrelab.experiments.spaces import suggest_params

        suggest_params(model, _Probe(), fixed)  # bad --param names fail before any trial
        study.enqueue_trial({}, user_attrs={DEFAULTS: True})
    recover_interrupted(study)
    optuna = _optuna()
    if len(_finished(study)) < n_trials:
        prepared = inputs.prepare(model, protocol)
        runs = prepared.runs(protocol, [seed])
        part = "test" if parsed.kfold else "valid"
        if not any(run.mask(part).any() for run in runs):
            raise DataError(
                f"{protocol} has no {part} part to tune on; use kfold-K or random-A-B-C"
            )
        objective = make_objective(prepared, model, runs, part, metric, fixed, seed)
        startup = min(10, max(1, n_trials // 3))
        while (done := len(_finished(study))) < n_trials:
            study.sampler = optuna.samplers.TPESampler(
                n_startup_trials=startup, seed=_sampler_seed(seed, done)
            )
            study.optimize(objective, n_trials=1)
            if on_trial is not None:
                on_trial(study.get_trials(deepcopy=False)[-1], done + 1)
    return summarize(study, study_dir), study


def summarize(study: Any, study_dir: Path) -> TuneResult:
    from optuna.trial import TrialState

    try:
        best = study.best_trial
    except ValueError:
        raise DataError(f"no trial of the study in {study_dir} completed") from None
    trials = study.get_trials(deepcopy=False)
    states: dict[str, int] = {}
    for trial in trials:
        key = "interrupted" if trial.number in _retried(trials) else trial.state.name.lower()
        states[key] = states.get(key, 0) + 1
    result = TuneResult(
        study_dir=study_dir,
        best_value=float(best.value),
        best_params=dict(best.user_attrs["model_params"]),
        best_trial=best.number,
        finished=len(_finished(study)),
        states=states,
        best_is_defaults=bool(best.user_attrs.get(DEFAULTS)),
    )
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    write_text(
        study_dir / "best.json",
        json.dumps(
            {
                "value": result.best_value,
                "metric": study.user_attrs.get("metric"),
                "trial": result.best_trial,
                "params": result.best_params,
                "tuned": best.params,
                "defaults": result.best_is_defaults,
                "finished": result.finished,
                "states": states,
                "completed_values": [t.value for t in complete],
            },
            indent=2,
        )
        + "\n",
    )
    return result


def save_plots(study: Any, study_dir: Path) -> list[Path]:
    """Optimisation history, hyper-parameter importances and per-step reports, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as views

    from genrelab.evaluation.plots import save_figure

    saved = []
    for name, draw in (
        ("history", views.plot_optimization_history),
        ("importances", views.plot_param_importances),
        ("intermediate", views.plot_intermediate_values),
    ):
        # Optuna switches pyplot to its own style: keep that inside this block.
        with matplotlib.rc_context(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental API; PED-ANOVA ties
            try:
                axes = draw(study)
            except (ValueError, RuntimeError):  # e.g. importances need two completed trials
                continue
            figure = np.ravel(axes)[0].figure
            try:
                saved.append(save_figure(figure, study_dir / f"{name}.png"))
            finally:
                plt.close(figure)
    return saved


def train_best(inputs: Inputs, model: str, result: TuneResult, protocol: str, seed: int) -> Any:
    """A bundle of ``model`` with the best parameters, validated as ``train`` would.

    Feature models are refit with :func:`genrelab.training.train` on the same folds (or
    split), so the card's score is the study's best value again; neural models train on the
    protocol's ``train`` tracks (every track under k-fold).
    """
    from genrelab.experiments.compare import reads_features

    params = result.best_params
    if reads_features(model):
        from genrelab.training import train

        bundle = train(inputs.features, model, params, protocol=protocol, seed=seed)
    else:
        from genrelab.neural.training import AudioData, train_on_audio

        audio = inputs.audio
        if parse_protocol(protocol).kfold:
            split = np.full(len(audio.tracks), "train")
        else:
            run = inputs.prepare(model, protocol).runs(protocol, [seed])[0]
            split = run.split
        data = AudioData(audio.tracks.assign(split=split), audio.audio, audio.sr, audio.source)
        bundle = train_on_audio(
            data,
            model,
            params,
            window_s=inputs.audio_window_s,
            progress=False,
            protocol=protocol,
            split_seed=seed,
        )
    bundle.card.training["tuning"] = {
        "study": str(result.study_dir),
        "best_trial": result.best_trial,
        "best_value": result.best_value,
        "finished_trials": result.finished,
    }
    return bundle
