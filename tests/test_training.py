"""Training under protocols: group-aware windows, per-track scores, the card's record."""

from __future__ import annotations

import pytest

from genrelab.errors import DataError
from genrelab.training import load_feature_data, train


@pytest.fixture(scope="module")
def windows(synth_dataset, tmp_path_factory):
    return load_feature_data(
        str(synth_dataset), window_s=2.0, cache_dir=str(tmp_path_factory.mktemp("c"))
    )


def test_audio_dataset_becomes_windows_grouped_by_track(windows):
    assert windows.X.shape == (24, 57)  # 12 clips x two 2 s windows
    assert len(windows.tracks) == 12
    for group in set(windows.groups):
        assert len(set(windows.labels[windows.groups == group])) == 1
    assert windows.windowing == {"window_s": 2.0, "hop_s": 2.0, "min_s": 2.0}


def test_kfold_card_records_fold_statistics_and_training_data(windows):
    bundle = train(windows, "logreg", protocol="kfold-3")
    (entry,) = bundle.card.validation
    assert entry["protocol"].startswith("kfold-3")
    assert entry["metrics"]["folds"] == 3
    assert entry["metrics"]["accuracy"] >= 0.9
    assert bundle.card.training["tracks"] == 12 and bundle.card.training["rows"] == 24
    assert bundle.card.training["class_counts"] == {"ambient": 8, "classical": 8, "rock": 8}


def test_single_split_scores_valid_and_test_per_track(windows):
    bundle = train(windows, "knn", {"n_neighbors": 1}, protocol="random-50-25-25", seed=1)
    parts = {e["split"]: e["metrics"] for e in bundle.card.validation}
    assert set(parts) == {"valid", "test"}
    assert parts["valid"]["n"] + parts["test"]["n"] == 6  # tracks, not windows
    assert bundle.card.training["fit_on"] == "train"


def test_feature_table_trains_straight_from_its_columns(feature_table):
    data = load_feature_data(str(feature_table))
    assert data.X.shape == (930, 57)
    bundle = train(data, "logreg", protocol="gtzan-filtered", fit_on=("train", "valid"))
    (entry,) = bundle.card.validation
    assert entry["split"] == "test" and entry["metrics"]["n"] == 290
    assert 0.4 < entry["metrics"]["accuracy"] < 0.75
    assert bundle.card.training["rows"] == 414 + 162


def test_a_protocol_with_no_training_rows_is_an_error(windows):
    with pytest.raises(DataError):
        train(windows, "logreg", protocol="official")
