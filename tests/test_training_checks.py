"""Training refuses data that cannot make a classifier, and never drops listed files silently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genrelab.cli import main
from genrelab.errors import DataError
from genrelab.training import FeatureData, train


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def _one_genre() -> FeatureData:
    rng = np.random.default_rng(0)
    groups = np.array([f"t{i}" for i in range(20)])
    return FeatureData(
        X=rng.normal(size=(20, 57)),
        labels=np.array(["rock"] * 20),
        groups=groups,
        tracks=pd.DataFrame({"group": groups, "label": "rock", "split": ""}),
        frontend={"kind": "features", "feature_set": "gtzan57"},
        sample_rate=22050,
        windowing={"window_s": 30.0, "hop_s": 30.0, "min_s": 3.0},
        source="one-genre.csv",
    )


@pytest.mark.parametrize("model", ["knn", "xgboost", "random_forest", "logreg", "svm"])
def test_a_single_genre_is_refused_by_every_model(model):
    for protocol in ("kfold-2", "random-80-10-10"):
        with pytest.raises(DataError, match="at least 2 genres, found only 'rock'"):
            train(_one_genre(), model, protocol=protocol)


def _manifest(synth_dataset, tmp_path, missing: int):
    files = sorted(synth_dataset.glob("*/*.wav"))
    rows = [(str(f), f.parent.name) for f in files]
    rows += [(str(tmp_path / f"gone-{i}.wav"), "rock") for i in range(missing)]
    manifest = tmp_path / "tracks.csv"
    pd.DataFrame(rows, columns=["path", "label"]).to_csv(manifest, index=False)
    return manifest


def test_missing_manifest_files_are_an_error_or_skipped_when_asked(
    synth_dataset, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("GENRELAB_CACHE", str(tmp_path / "cache"))
    manifest = _manifest(synth_dataset, tmp_path, missing=4)
    argv = ["train", "--data", str(manifest), "--model", "logreg", "--split", "kfold-2"]
    argv += ["--window", "2", "-o", str(tmp_path / "bundle")]

    code, _, err = _run(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "4 listed file(s) do not exist" in err and "gone-0.wav" in err
    assert "--skip-missing" in err
    assert not (tmp_path / "bundle").exists()

    code, _, err = _run([*argv, "--skip-missing"], capsys)
    assert code == 0, err
    assert "skipping 4 manifest row(s)" in err
    assert (tmp_path / "bundle" / "card.json").is_file()


def test_a_one_genre_folder_fails_on_the_command_line(synth_dataset, tmp_path, capsys):
    only = tmp_path / "only"
    only.mkdir()
    (only / "rock").symlink_to(synth_dataset / "rock")
    code, _, err = _run(
        [
            "train",
            "--data",
            str(only),
            "--model",
            "knn",
            "--window",
            "2",
            "-o",
            str(tmp_path / "b"),
        ],
        capsys,
    )
    assert code == 2 and "at least 2 genres" in err and len(err.strip().splitlines()) == 1
