"""Tree models: ``train`` and ``evaluate`` write feature importances; thread defaults."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from genrelab.cli import main
from genrelab.features.sets import get_feature_set
from genrelab.models import create_model

NAMES = list(get_feature_set("gtzan57").names)
#: The two features that carry the label in the synthetic table.
SIGNAL = ("tempo", "rms_mean")


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Kaggle-style feature table: 3 genres x 20 clips, only two columns tell them apart."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("table") / "features_30_sec.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filename", "length", *NAMES, "label"])
        for g, genre in enumerate(("blues", "jazz", "metal")):
            for i in range(20):
                row = rng.standard_normal(len(NAMES))
                for name in SIGNAL:
                    row[NAMES.index(name)] += 4 * g
                writer.writerow([f"{genre}.{i:05d}.wav", 661794, *row.round(5), genre])
    return path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def importances(folder: Path) -> list[tuple[str, float]]:
    with (folder / "feature_importances.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    return [(r["feature"], float(r["importance"])) for r in rows]


@pytest.mark.parametrize("model", ["random_forest", "xgboost"])
def test_train_and_evaluate_write_importances_of_tree_models(table, tmp_path, capsys, model):
    bundle = tmp_path / model
    argv = ["train", "--data", str(table), "--model", model, "-o", str(bundle)]
    code, out, err = run([*argv, "-p", "n_estimators=50"], capsys)
    assert code == 0, err
    assert "feature_importances.csv" in out
    ranked = importances(bundle)
    assert len(ranked) == len(NAMES) and {name for name, _ in ranked} == set(NAMES)
    assert {name for name, _ in ranked[:2]} == set(SIGNAL)
    assert [v for _, v in ranked] == sorted((v for _, v in ranked), reverse=True)
    assert (bundle / "feature_importances.png").read_bytes()[:4] == b"\x89PNG"

    report = tmp_path / "eval"
    argv = ["evaluate", str(bundle), "--data", str(table), "-o", str(report), "--include-seen"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert importances(report) == ranked
    assert (report / "feature_importances.png").is_file() and (report / "metrics.json").is_file()


def test_models_without_importances_write_none(table, tmp_path, capsys):
    code, _, err = run(
        ["train", "--data", str(table), "--model", "knn", "-o", str(tmp_path / "k")], capsys
    )
    assert code == 0, err
    assert not (tmp_path / "k" / "feature_importances.csv").exists()


def test_thread_defaults_suit_small_machines_and_can_be_overridden(table, tmp_path, capsys):
    import json
    import os

    assert create_model("xgboost").get_params()["n_jobs"] == 1
    assert create_model("knn").get_params()["n_jobs"] == 1
    assert create_model("random_forest").get_params()["n_jobs"] == min(4, os.cpu_count() or 1)
    bundle = tmp_path / "xgb"
    argv = ["train", "--data", str(table), "--model", "xgboost", "-o", str(bundle)]
    code, _, err = run([*argv, "-p", "n_estimators=10", "-p", "n_jobs=2"], capsys)
    assert code == 0, err
    assert json.loads((bundle / "card.json").read_text())["params"]["n_jobs"] == 2
    assert create_model("xgboost", n_jobs=2).build()[-1].n_jobs == 2
