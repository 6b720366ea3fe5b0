"""``genrelab compare``: shared runs, leaderboard, report, and the loud leak flag."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genrelab.cli import main
from genrelab.errors import DataError
from genrelab.experiments.compare import Entry, Inputs, check_protocol, compare, protocol_runs
from genrelab.features.reference import GTZAN_FEATURE_NAMES


def write_segment_table(
    path: Path,
    genres: tuple[str, ...] = ("blues", "jazz", "metal"),
    tracks: int = 8,
    segments: int = 5,
    seed: int = 0,
) -> Path:
    """A Kaggle-style 3-second table: each track's segments share a strong track signature,
    on top of a weaker genre signal -- so splitting rows, not tracks, lets a model cheat."""
    rng = np.random.default_rng(seed)
    centres = {g: rng.normal(size=len(GTZAN_FEATURE_NAMES)) for g in genres}
    rows = []
    for genre in genres:
        for t in range(tracks):
            signature = 2.0 * rng.normal(size=len(GTZAN_FEATURE_NAMES))
            for s in range(segments):
                x = 0.6 * centres[genre] + signature + 0.3 * rng.normal(size=signature.size)
                rows.append(
                    {
                        "filename": f"{genre}.{t:05d}.{s}.wav",
                        "length": 66149,
                        **dict(zip(GTZAN_FEATURE_NAMES, x, strict=True)),
                        "label": genre,
                    }
                )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    return write_segment_table(tmp_path_factory.mktemp("table") / "features_3_sec.csv")


def test_protocol_names_are_checked() -> None:
    assert check_protocol(" KFold-10 ").name == "kfold-10"
    for bad in ("kfold", "random-rows", "holdout", "random-80-10-10-x"):
        with pytest.raises(DataError, match="unknown protocol"):
            check_protocol(bad)


def test_grouped_protocols_never_leak_and_row_protocols_do(table: Path) -> None:
    data = Inputs(str(table)).features
    args = (data.tracks, data.groups, data.labels)
    folds = protocol_runs(*args, "kfold-4", seeds=[0])
    assert len(folds) == 4
    assert all(run.leaked(data.groups) == [] for run in folds)
    # every row is tested exactly once, and a track's rows always share their fold
    assert (np.sum([run.mask("test") for run in folds], axis=0) == 1).all()
    for run in folds:
        tested = set(data.groups[run.mask("test")])
        assert tested.isdisjoint(data.groups[run.mask("train")])
    seeded = protocol_runs(*args, "random-60-20-20", seeds=[0, 1, 2])
    assert [run.name for run in seeded] == ["seed 0", "seed 1", "seed 2"]
    assert all(run.leaked(data.groups) == [] for run in seeded)
    assert not np.array_equal(seeded[0].split, seeded[1].split)
    for leaky in ("random-rows-80-10-10", "kfold-rows-4"):
        runs = protocol_runs(*args, leaky, seeds=[0])
        assert all(len(run.leaked(data.groups)) > 10 for run in runs), leaky


def test_compare_cli_writes_leaderboard_report_and_flags_the_leak(
    table: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "cmp"
    argv = ["compare", "--models", "knn,logreg,random_forest", "--data", str(table)]
    argv += ["--protocol", "kfold-3,random-rows-80-10-10", "--seeds", "0,1", "-o", str(out)]
    argv += ["--param", "random_forest.n_estimators=20"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    stderr = " ".join(capsys.readouterr().err.replace("│", " ").split())

    board = pd.read_csv(out / "leaderboard.csv")
    assert len(board) == 6
    assert set(board["protocol"]) == {"kfold-3", "random-rows-80-10-10"}
    assert board.set_index(["protocol", "model"]).loc["kfold-3", "runs"].eq(3).all()
    assert board.set_index(["protocol", "model"]).loc["random-rows-80-10-10", "runs"].eq(2).all()
    assert (board["leak"] == (board["protocol"] == "random-rows-80-10-10")).all()
    leaked = board.loc[board["leak"], "leaked_tracks"]
    assert leaked.nunique() == 1 and 12 < leaked.iloc[0] <= 24  # same runs for every model
    n = leaked.iloc[0]
    assert "WARNING: LEAKY PROTOCOL" in stderr
    assert f"DATA LEAK: random-rows-80-10-10 ({n} tracks) put windows of the same" in stderr
    # the leak is what inflates the score: memorising a track's signature beats the genre signal
    knn = board[board["model"] == "knn"].set_index("protocol")["accuracy"]
    assert knn["random-rows-80-10-10"] > knn["kfold-3"] + 0.3
    within = board[board["protocol"] == "kfold-3"]["accuracy"].tolist()
    assert within == sorted(within, reverse=True)

    markdown = (out / "leaderboard.md").read_text()
    assert markdown.count(f"**LEAK** ({n} tracks)") == 3
    assert re.search(r"\| knn \| `kfold-3` \| 3 \| \d\.\d{3} ± \d\.\d{3} \|", markdown)

    report = (out / "report.html").read_text()
    assert 'class="leak"' in report and "DATA LEAK" in report
    assert "<script" not in report and not re.search(r'(src|href)="(https?:)?//', report)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', report)
    # a summary chart; confusion and F1 for each entry; importances for the forest
    assert len(images) == 1 + 6 * 2 + 2
    assert all(img.startswith("iVBORw0KGgo") for img in images)  # PNG signature

    document = json.loads((out / "results.json").read_text())
    entries = [Entry.from_dict(e) for e in document["entries"]]
    for entry in entries:
        pooled = entry.pooled()
        assert np.sum(pooled["confusion_matrix"]) == sum(len(r.truth) for r in entry.runs)
    forest = next(e for e in entries if e.model == "random_forest")
    assert forest.mean_importances().shape == (len(GTZAN_FEATURE_NAMES),)
    grouped_knn = next(e for e in entries if e.model == "knn" and e.protocol == "kfold-3")
    # k-fold scores every track exactly once
    assert sorted(t for r in grouped_knn.runs for t in r.truth) == sorted(
        pd.read_csv(table)["label"].iloc[::5]
    )


def test_compare_rejects_parameters_for_models_not_compared(table: Path) -> None:
    with pytest.raises(DataError, match="not compared: svm"):
        compare(Inputs(str(table)), ["knn"], ["kfold-3"], params={"svm": {"C": 1.0}})


def test_std_is_over_seeds_for_single_splits(table: Path) -> None:
    entries = compare(Inputs(str(table)), ["logreg"], ["random-50-25-25"], seeds=[0, 1, 2])
    summary = entries[0].summary()
    accuracies = [r.metrics["accuracy"] for r in entries[0].runs]
    assert summary["runs"] == 3
    assert summary["accuracy"] == pytest.approx(np.mean(accuracies))
    assert summary["accuracy_std"] == pytest.approx(np.std(accuracies, ddof=1))


def test_feature_models_compare_without_torch(table: Path, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from genrelab.cli import main\n"
        "try:\n"
        f"    main(['compare', '--models', 'knn', '--data', {str(table)!r}, '--protocol',"
        f" 'kfold-2', '-o', {str(tmp_path)!r}])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0\n"
        "print(sorted(m for m in ('torch', 'optuna') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "report.html").is_file()


def test_a_single_run_shows_no_spread() -> None:
    from genrelab.experiments.report import mean_std, runs_text

    assert mean_std(0.81234, 0.0, 1) == "0.812"  # not "0.812 ± 0.000"
    assert mean_std(0.8, 0.05, 3, digits=4) == "0.8000 ± 0.0500"
    assert (runs_text(1), runs_text(5)) == ("1 run", "5 runs")
