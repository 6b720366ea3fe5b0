"""``genrelab train`` / ``evaluate`` / ``models`` end to end, and their one-line errors."""

from __future__ import annotations

import json

import pytest

from genrelab.cli import main


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_train_then_evaluate_a_folder_dataset(synth_dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path / "cache"))
    bundle = tmp_path / "knn"
    code, out, err = run(
        [
            "train",
            "--data",
            str(synth_dataset),
            "--model",
            "knn",
            "--split",
            "kfold-3",
            "--window",
            "2",
            "-p",
            "n_neighbors=3",
            "-o",
            str(bundle),
        ],
        capsys,
    )
    assert code == 0, err
    assert "kfold-3" in out and "bundle written" in out
    card = json.loads((bundle / "card.json").read_text())
    assert card["params"]["n_neighbors"] == 3
    assert card["windowing"]["window_s"] == 2.0

    report = tmp_path / "report"
    argv = ["evaluate", str(bundle), "--data", str(synth_dataset), "-o", str(report)]
    code, out, err = run(argv, capsys)
    assert code == 2 and "all 12 rows were used to fit the model" in err  # k-fold fits all
    code, out, err = run([*argv, "--include-seen"], capsys)
    assert code == 0, err
    assert "12 of 12 rows were used to fit the model" in err
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["n"] == 12 and metrics["accuracy"] >= 0.9
    assert set(metrics["per_class"]) == {"ambient", "classical", "rock"}
    assert (report / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "balanced accuracy" in out


def test_feature_table_bundle_evaluated_on_the_artist_filtered_test_rows(
    feature_table, tmp_path, capsys
):
    bundle = tmp_path / "logreg"
    code, _, err = run(
        [
            "train",
            "--data",
            str(feature_table),
            "--model",
            "logreg",
            "--split",
            "gtzan-filtered",
            "-o",
            str(bundle),
        ],
        capsys,
    )
    assert code == 0, err
    code, _, _ = run(
        [
            "evaluate",
            str(bundle),
            "--data",
            str(feature_table),
            "--split",
            "test",
            "-o",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n"] == 290
    assert sum(map(sum, metrics["confusion_matrix"])) == 290


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "/nope", "--model", "svm"], "no such"),
        (["train", "--data", "/tmp", "--model", "nope"], "unknown model 'nope'"),
        (["classify", "/definitely/missing.wav"], "no such file or folder"),
        (["classify", "--aggregate", "median", "x.wav"], "unknown aggregate 'median'"),
        (["evaluate", "/no/bundle", "--data", "/tmp"], "no model bundle at /no/bundle"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_bad_usage_prints_one_line_and_exits_2(argv, message, capsys):
    code, _, err = run(argv, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genrelab: error:"), err
    assert message.lower() in lines[0].lower()


def test_models_lists_the_registry(capsys):
    code, out, _ = run(["models"], capsys)
    assert code == 0
    assert {"knn", "logreg", "svm", "random_forest", "xgboost"} <= set(out.split())


def test_train_a_head_on_musicnn_embeddings_then_classify(
    synth_dataset, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path / "cache"))
    bundle = tmp_path / "emb"
    code, _, err = run(
        [
            "train",
            "--data",
            str(synth_dataset),
            "--model",
            "logreg",
            "--embeddings",
            "musicnn-msd",
            "--window",
            "4",
            "--split",
            "kfold-2",
            "-o",
            str(bundle),
        ],
        capsys,
    )
    assert code == 0, err
    card = json.loads((bundle / "card.json").read_text())
    assert card["frontend"]["kind"] == "musicnn"
    track = next((synth_dataset / "rock").iterdir())
    code, out, err = run(["classify", "--json", "-m", str(bundle), str(track)], capsys)
    assert code == 0, err
    (result,) = json.loads(out)
    assert set(result["probabilities"]) == {"ambient", "classical", "rock"}
