"""Bundles record what they were fitted on; evaluate and ensemble leave those rows out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genrelab.cli import main
from genrelab.data import load_dataset
from genrelab.data.fitted import FITTED_KEY, drop_seen, file_id, gtzan_id, row_ids
from genrelab.errors import DataError
from genrelab.models import default_bundle_path, load_bundle, read_card
from genrelab.training import load_feature_data, train


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_gtzan_names_and_table_rows_share_an_id_other_files_a_content_hash(tmp_path):
    assert gtzan_id("genres_original/blues/blues.00000.wav") == "blues.00000"
    assert gtzan_id("blues.00000.3.wav") == "blues.00000"  # a 3 s segment of the track
    assert gtzan_id("drums.00000.wav") is None  # not a GTZAN genre
    a, b, c = tmp_path / "a.wav", tmp_path / "copy.wav", tmp_path / "other.wav"
    a.write_bytes(b"RIFF one")
    b.write_bytes(b"RIFF one")
    c.write_bytes(b"RIFF two")
    assert file_id(a) == file_id(b) != file_id(c)
    assert file_id(a) == "sha1:" + __import__("hashlib").sha1(b"RIFF one").hexdigest()


@pytest.fixture(scope="module")
def holdout_bundle(synth_dataset: Path, tmp_path_factory) -> tuple[Path, list[str]]:
    """A logreg fitted on the train part of a random split: some tracks seen, some not."""
    data = load_feature_data(
        str(synth_dataset),
        window_s=2.0,
        cache_dir=str(tmp_path_factory.mktemp("cache")),
    )
    bundle = train(data, "logreg", protocol="random-50-25-25", seed=1)
    fitted = bundle.card.training[FITTED_KEY]
    return bundle.save(tmp_path_factory.mktemp("b") / "holdout"), fitted


def test_the_card_lists_the_training_tracks(holdout_bundle, synth_dataset):
    _, fitted = holdout_bundle
    ids = row_ids(load_dataset(str(synth_dataset)))
    assert len(set(ids)) == 12 and 0 < len(fitted) < 12
    assert set(fitted) <= set(ids) and all(i.startswith("sha1:") for i in fitted)


def test_evaluate_scores_only_unseen_rows_and_says_so(
    holdout_bundle, synth_dataset, tmp_path, capsys
):
    bundle, fitted = holdout_bundle
    argv = ["evaluate", bundle, "--data", synth_dataset, "-o", tmp_path / "e"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert f"skipped {len(fitted)} rows the model was fitted on" in err
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["n"] == 12 - len(fitted) and metrics["seen_rows"] == len(fitted)

    code, _, err = run([*argv, "--include-seen"], capsys)
    assert code == 0 and "not held-out results" in err
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["n"] == 12


def test_a_card_without_the_list_is_unknown_and_warned_about(
    holdout_bundle, synth_dataset, tmp_path, capsys
):
    old = tmp_path / "old"
    shutil.copytree(holdout_bundle[0], old)
    card = json.loads((old / "card.json").read_text())
    del card["training"][FITTED_KEY]
    (old / "card.json").write_text(json.dumps(card))
    code, _, err = run(["evaluate", old, "--data", synth_dataset, "-o", tmp_path / "e"], capsys)
    assert code == 0 and "does not list what it was fitted on" in err
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["n"] == 12


def test_drop_seen_refuses_when_nothing_unseen_is_left(synth_dataset):
    df = load_dataset(str(synth_dataset))
    training = {FITTED_KEY: row_ids(df)}
    with pytest.raises(DataError, match="all 12 rows were used to fit the model"):
        drop_seen(df, training)
    kept, seen, _ = drop_seen(df, training, include_seen=True)
    assert len(kept) == 12 and seen == 12


def test_the_ensemble_combiner_skips_rows_its_members_saw(holdout_bundle, synth_dataset):
    from genrelab.experiments.ensemble import build_ensemble

    bundle, fitted = holdout_bundle
    notes: list[str] = []
    ensemble = build_ensemble(
        [bundle, bundle], "stack", data=str(synth_dataset), split="all", on_note=notes.append
    )
    training = ensemble.card.training
    assert training["seen_rows"] == len(fitted) and training["tracks"] == 12 - len(fitted)
    assert notes == [
        f"skipped {len(fitted)} rows the members were fitted on (--include-seen to use them)"
    ]
    # The ensemble has seen its members' rows and the rows its stacker was fitted on: all.
    assert set(training[FITTED_KEY]) == set(row_ids(load_dataset(str(synth_dataset))))


def test_the_default_card_lists_its_fitted_recordings():
    ids = read_card(default_bundle_path()).training[FITTED_KEY]
    # 30 dev clips, 407 GTZAN excerpts and 180 emotify-dev clips (by content hash).
    assert len(ids) == 617 and "blues.00000" in ids and ids == sorted(set(ids))
    assert sum(i.startswith("sha1:") for i in ids) == 180


def test_default_model_on_its_own_dev_clips_is_refused(gtzan_dev, tmp_path, capsys):
    code, _, err = run(["evaluate", "default", "--data", gtzan_dev, "-o", tmp_path], capsys)
    assert code == 2
    assert "all 30 rows were used to fit the model" in err and len(err.strip().splitlines()) == 1


def test_an_ensemble_of_table_models_evaluates_on_the_table(feature_table, tmp_path, capsys):
    members = []
    for model in ("logreg", "knn"):
        data = load_feature_data(str(feature_table))
        members.append(train(data, model, protocol="gtzan-filtered").save(tmp_path / model))
    ensemble = tmp_path / "ens"
    code, _, err = run(
        [*("ensemble", *members, "-o", ensemble, "--method", "stack"), "--data", feature_table],
        capsys,
    )
    assert code == 0, err  # fitted on the valid rows, which the members never saw
    assert "skipped" not in err
    code, _, err = run(
        ["evaluate", ensemble, "--data", feature_table, "--split", "test", "-o", tmp_path / "e"],
        capsys,
    )
    assert code == 0, err
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert metrics["n"] == 290 and metrics["seen_rows"] == 0 and metrics["accuracy"] > 0.3
    # On all rows, the members' train rows and the stacker's valid rows are skipped.
    seen = int(load_dataset(str(feature_table))["split"].isin(["train", "valid"]).sum())
    code, _, err = run(
        ["evaluate", ensemble, "--data", feature_table, "-o", tmp_path / "e"], capsys
    )
    assert code == 0 and f"skipped {seen} rows the model was fitted on" in err
    assert len(load_bundle(ensemble).card.training[FITTED_KEY]) == seen
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["n"] == 930 - seen
