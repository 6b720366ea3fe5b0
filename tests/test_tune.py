"""``genrelab tune``: resumable Optuna studies, search spaces, the best bundle."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import pytest

optuna = pytest.importorskip("optuna")

from genrelab.cli import main  # noqa: E402
from genrelab.errors import DataError, ModelError  # noqa: E402
from genrelab.experiments.compare import Inputs  # noqa: E402
from genrelab.experiments.spaces import (  # noqa: E402
    Suggest,
    ast_dora_space,
    hf_space,
    spaces,
    suggest_params,
)
from genrelab.experiments.tune import STUDY_NAME, storage_url, tune  # noqa: E402
from genrelab.models import load_bundle  # noqa: E402
from test_compare import write_segment_table  # noqa: E402

TRIALS = 8
#: Logistic regression capped at few iterations: fast trials over a continuous C.
FIXED = {"max_iter": 100}


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    return write_segment_table(
        tmp_path_factory.mktemp("table") / "features_3_sec.csv", tracks=6, segments=3
    )


def _argv(table: Path, study_dir: Path, trials: int = TRIALS) -> list[str]:
    return [
        "tune", "--model", "logreg", "--data", str(table), "--trials", str(trials),
        "--protocol", "kfold-2", "--study-dir", str(study_dir), "--seed", "3",
        "--param", "max_iter=100",
    ]  # fmt: skip


def _states(db: Path) -> list[str]:
    """Trial states, ``RUNNING+`` for a running trial that has drawn its parameters."""
    query = (
        "SELECT state || CASE WHEN EXISTS (SELECT 1 FROM trial_params p"
        " WHERE p.trial_id = t.trial_id) AND state = 'RUNNING' THEN '+' ELSE '' END"
        " FROM trials t ORDER BY number"
    )
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2) as con:
            return [row[0] for row in con.execute(query)]
    except sqlite3.OperationalError:  # not created yet, or locked for a moment
        return []


def _finished(study) -> list:
    return [t for t in study.trials if t.state.is_finished() and not _retried(study, t)]


def _retried(study, trial) -> bool:
    return any(t.user_attrs.get("retry_of") == trial.number for t in study.trials)


def _run_cli(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0


def test_killed_study_resumes_to_the_same_result(table: Path, tmp_path: Path) -> None:
    killed_dir = tmp_path / "killed"
    code = "import sys; from genrelab.cli import main; main(sys.argv[1:])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *_argv(table, killed_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = killed_dir / "study.db"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            states = _states(db)
            if sum(s in ("COMPLETE", "PRUNED") for s in states) >= 3 and "RUNNING+" in states:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    stored = _states(db)
    assert 3 <= sum(s in ("COMPLETE", "PRUNED") for s in stored) < TRIALS

    _run_cli(_argv(table, killed_dir))  # resume

    study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(killed_dir))
    finished = _finished(study)
    assert len(finished) == TRIALS
    interrupted = [t for t in study.trials if _retried(study, t)]
    assert len(interrupted) == stored.count("RUNNING+") == 1
    assert all(t.state.name == "FAIL" for t in interrupted)
    tuned = [tuple(sorted(t.params.items())) for t in finished]
    assert len(set(tuned)) == TRIALS  # nothing ran twice
    assert tuple(sorted(interrupted[0].params.items())) in tuned  # ... and nothing was lost

    # an uninterrupted study with the same seed draws the same trials and the same best
    whole, _ = tune(
        Inputs(str(table)), "logreg", TRIALS, tmp_path / "whole", "kfold-2", seed=3, fixed=FIXED
    )
    reference = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(tmp_path / "whole"))
    assert [(t.params, t.state, t.value) for t in _finished(reference)] == [
        (t.params, t.state, t.value) for t in finished
    ]
    best = json.loads((killed_dir / "best.json").read_text())
    assert best["value"] == pytest.approx(whole.best_value)
    assert best["params"] == whole.best_params
    assert best["finished"] == TRIALS

    # the bundle is the best trial refit; its k-fold score is the study's best value again
    bundle = load_bundle(killed_dir / "bundle")
    assert bundle.card.params["C"] == pytest.approx(whole.best_params["C"])
    assert bundle.card.validation[0]["metrics"]["accuracy"] == pytest.approx(whole.best_value)
    assert bundle.card.training["tuning"]["finished_trials"] == TRIALS
    for plot in ("history.png", "importances.png", "intermediate.png"):
        assert (killed_dir / plot).read_bytes().startswith(b"\x89PNG")
    assert matplotlib.rcParams["axes.facecolor"] == "white"  # Optuna's style stayed in its plots


def test_a_trial_left_running_is_retried_not_counted(table: Path, tmp_path: Path) -> None:
    inputs = Inputs(str(table))
    tune(inputs, "logreg", 2, tmp_path, "kfold-2", fixed=FIXED)
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(tmp_path))
    orphan = study.ask()
    orphan.suggest_float("C", 1e-3, 1e2, log=True)  # what a killed run leaves behind

    result, study = tune(inputs, "logreg", 4, tmp_path, "kfold-2", fixed=FIXED)
    trials = study.get_trials()
    assert trials[orphan.number].state.name == "FAIL"
    retry = trials[orphan.number + 1]
    assert retry.user_attrs["retry_of"] == orphan.number
    assert retry.params == orphan.params and retry.state.is_finished()
    assert result.finished == 4 and result.states["interrupted"] == 1
    assert len(trials) == 5


def test_resuming_with_other_settings_is_refused(table: Path, tmp_path: Path) -> None:
    inputs = Inputs(str(table))
    tune(inputs, "knn", 1, tmp_path, "kfold-3")
    with pytest.raises(DataError, match="other settings \\(protocol"):
        tune(inputs, "knn", 2, tmp_path, "kfold-2")
    with pytest.raises(DataError, match="leaks tracks"):
        tune(inputs, "knn", 2, tmp_path / "rows", "random-rows-80-10-10")


def test_single_split_tuning_scores_valid_only(table: Path, tmp_path: Path) -> None:
    inputs = Inputs(str(table))
    result, study = tune(
        inputs, "knn", 3, tmp_path, "random-60-20-20", fixed={"weights": "uniform"}
    )
    tuned = study.trials[1:]  # trial 0 runs the defaults
    assert all(t.params.keys() == {"n_neighbors"} for t in tuned)  # fixed: not tuned
    assert result.best_params["weights"] == "uniform"
    # one report per trial: a single split has one "fold"
    assert all(len(t.intermediate_values) == 1 for t in study.trials)


def test_search_spaces_give_accepted_parameters() -> None:
    import inspect

    from genrelab.models import model_class

    for name in ("knn", "logreg", "svm", "random_forest", "xgboost", "soft_vote"):
        params = suggest_params(name, optuna.create_study().ask(), {})
        inspect.signature(model_class(name)).bind(**params)
    study = optuna.create_study()
    assert {"cnn", "lstm", "hf", "ast_dora"} <= set(spaces())
    fixed = suggest_params("xgboost", trial := study.ask(), {"max_depth": 3})
    assert fixed["max_depth"] == 3 and "max_depth" not in trial.params
    vote = suggest_params("soft_vote", study.ask(), {"svm_weight": 0.25})
    assert vote["weights"] == [0.25, 0.75]
    with pytest.raises(ModelError, match="no parameter gama"):
        suggest_params("svm", study.ask(), {"gama": 0.1})


def test_neural_spaces_tune_training_and_adapter_settings() -> None:
    pytest.importorskip("torch")
    study = optuna.create_study()
    cnn = suggest_params("cnn", trial := study.ask(), {"epochs": 2})
    assert cnn["epochs"] == 2 and len(cnn["channels"]) == 3
    assert {"lr", "warmup_ratio", "weight_decay", "batch_size", "dense"} <= trial.params.keys()
    # the backbone spaces, called directly (their models need transformers)
    dora = ast_dora_space(Suggest(dora_trial := study.ask()))
    assert {"adapter_rank", "adapter_alpha", "adapter_from_layer"} <= dora_trial.params.keys()
    assert dora["lr"] <= 1e-3
    assert "adapter_rank" not in hf_space(Suggest(study.ask()))
    assert "adapter_rank" in hf_space(Suggest(study.ask(), {"mode": "lora"}))


def test_the_first_trial_is_the_defaults_so_tuning_never_ends_below_them(
    table: Path, tmp_path: Path, capsys
) -> None:
    result, study = tune(Inputs(str(table)), "knn", 3, tmp_path, "kfold-2")
    first = study.trials[0]
    assert first.user_attrs["defaults"] and first.params == {}
    assert first.user_attrs["model_params"] == {
        "n_neighbors": 7,
        "weights": "distance",
        "n_jobs": 1,
    }
    assert result.best_value >= first.value
    assert json.loads((tmp_path / "best.json").read_text())["finished"] == 3

    argv = ["tune", "--model", "svm", "--data", str(table), "--trials", "2"]
    argv += ["--protocol", "kfold-2", "--study-dir", str(tmp_path / "svm")]
    argv += ["-o", str(tmp_path / "svm-bundle")]
    _run_cli(argv)
    stdout = capsys.readouterr().out
    shown = next(line for line in stdout.splitlines() if line.startswith("best parameters"))
    assert "'C'" in shown and "seed" not in shown  # the seed is not a tuned parameter
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(tmp_path / "svm"))
    assert study.trials[0].user_attrs["model_params"]["gamma"] == "scale"  # outside the space
