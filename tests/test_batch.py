"""Batch classification: engine stages, output tables, the resumable journal, ensembles, albums."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import soundfile as sf

from genrelab import synth
from genrelab.batch import (
    EngineSpec,
    album_table,
    journal_path,
    read_table,
    run_batch,
    summarise,
)
from genrelab.batch.album import bar
from genrelab.batch.writers import Journal, columns
from genrelab.errors import GenrelabError, ModelError
from genrelab.pipeline import Classifier, failed

STYLES = ("classical", "rock", "ambient")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """Four 4 s synthetic tracks (one in a sub-folder) and one broken file."""
    root = tmp_path_factory.mktemp("library")
    (root / "sub").mkdir()
    paths = []
    for i, style in enumerate((*STYLES, "rock")):
        path = root / ("sub" if i == 3 else "") / f"{i}-{style}.wav"
        sf.write(path, synth.song(4.0, style=style, seed=20 + i), 22050)
        paths.append(path)
    broken = root / "broken.mp3"
    broken.write_bytes(b"\x00not audio" * 50)
    return [*paths[:2], broken, *paths[2:]]


@pytest.fixture(scope="module")
def spec(tiny_bundle):
    return EngineSpec((str(tiny_bundle),))


@pytest.fixture(scope="module")
def engine(spec):
    return spec.build()


@pytest.fixture(scope="module")
def results(spec, engine, library):
    return run_batch(spec, library, engine=engine)


def test_engine_matches_the_classifier_on_files(tiny_bundle, engine, library):
    expected = Classifier(tiny_bundle).classify(library[0]).to_dict()
    got = engine.classify(library[0])
    assert got["genre"] == expected["genre"]
    # Equal up to the last bits: the engine sums with one BLAS thread, the classifier with all.
    assert got["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-9)
    assert [(w["start"], w["end"]) for w in got["windows"]] == [(0.0, 2.0), (2.0, 4.0)]
    assert got["logits"] == pytest.approx(
        {k: math.log(p) for k, p in expected["probabilities"].items()}, rel=1e-6
    )


def test_results_keep_input_order_and_failures_become_errors(results, library):
    assert [r["path"] for r in results] == [str(p) for p in library]
    assert "not an audio file or corrupt" in results[2]["error"]
    assert all(r["error"] is None for i, r in enumerate(results) if i != 2)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_tables_have_one_column_per_class_and_round_trip(
    spec, engine, library, results, tmp_path, suffix
):
    out = tmp_path / f"results{suffix}"
    run_batch(spec, library, output=out, engine=engine)
    table = read_table(out)
    assert list(table.columns) == columns(engine.labels)
    assert table["path"].tolist() == [str(p) for p in library]
    assert table["error"].tolist()[2].endswith("not an audio file or corrupt")
    assert table["genre"].tolist()[2] == "" and math.isnan(table["confidence"][2])
    first = results[0]
    row = table.iloc[0]
    assert row["genre"] == first["genre"] and row["error"] == ""
    for label in engine.labels:  # floats survive every format exactly
        assert row[f"prob_{label}"] == first["probabilities"][label]
        assert row[f"logit_{label}"] == first["logits"][label]
    assert not journal_path(out).exists(), "the journal is removed once the table is written"
    assert [p.name for p in tmp_path.iterdir()] == [out.name], "no temporary files left"


def test_bad_output_names_fail_before_any_work(spec, library, tmp_path):
    with pytest.raises(GenrelabError, match=r"must end in \.csv, \.jsonl, \.parquet"):
        run_batch(spec, library, output=tmp_path / "results.txt")
    with pytest.raises(GenrelabError, match="--resume needs --output"):
        run_batch(spec, library, resume=True)


def test_resume_skips_journalled_files_and_drops_a_torn_last_line(
    spec, engine, library, results, tmp_path
):
    out = tmp_path / "results.csv"
    header = {"models": list(spec.models), "aggregate": "mean", "labels": engine.labels}
    journal = Journal.open(journal_path(out), header, resume=False)
    journal.append(results[0])
    journal.append({**results[1], "genre": "from-the-journal"})
    journal.close()
    with open(journal_path(out), "a") as fh:
        fh.write('{"path": "half a line')  # the process was killed mid-write
    seen = []
    resumed = run_batch(
        spec, library, output=out, resume=True, engine=engine, on_result=seen.append
    )
    assert resumed[1]["genre"] == "from-the-journal", "journalled files are not redone"
    assert [r["path"] for r in resumed] == [str(p) for p in library]
    assert len(seen) == len(library), "every file reported once, resumed ones included"
    table = read_table(out)
    assert table["path"].tolist() == [str(p) for p in library]
    for i in (0, 2, 3, 4):
        assert table["genre"][i] == (results[i].get("genre") or "")


def test_resume_refuses_a_journal_from_another_job(spec, engine, library, tmp_path):
    out = tmp_path / "results.jsonl"
    Journal.open(journal_path(out), {"models": ["other"]}, resume=False).close()
    with pytest.raises(GenrelabError, match="different job"):
        run_batch(spec, library, output=out, resume=True, engine=engine)


def test_an_ensemble_averages_members_whatever_their_label_order(tiny_bundle, library, tmp_path):
    card = json.loads((tiny_bundle / "card.json").read_text())
    assert card["labels"] == sorted(card["labels"])
    single = EngineSpec((str(tiny_bundle),)).build().classify(library[0])
    twice = EngineSpec((str(tiny_bundle), str(tiny_bundle))).build().classify(library[0])
    assert twice["probabilities"] == pytest.approx(single["probabilities"], rel=1e-12)
    assert twice["genre"] == single["genre"]

    other = tmp_path / "other"
    shutil.copytree(tiny_bundle, other)
    card["labels"] = ["x", "y", "z"]
    (other / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError):
        EngineSpec((str(tiny_bundle), str(other))).build()


def test_album_distribution_is_the_mean_of_track_probabilities(results, engine):
    summary = summarise(results, engine.labels)
    ok = [r for r in results if not failed(r)]
    assert (summary.tracks, summary.failed) == (5, 1)
    for label in engine.labels:
        expected = np.mean([r["probabilities"][label] for r in ok])
        assert summary.distribution[label] == pytest.approx(expected)
    assert list(summary.distribution.values()) == sorted(
        summary.distribution.values(), reverse=True
    )
    assert sum(summary.wins.values()) == 4
    assert album_table(summary, "album").row_count == len(engine.labels)


def test_bars_are_drawn_in_eighths():
    assert bar(1.0, 4) == "████"
    assert bar(0.5, 4) == "██"
    assert bar(1 / 32, 4) == "▏"
    assert bar(0.0, 4) == ""


@pytest.mark.slow
def test_worker_processes_give_identical_results(spec, library, results):
    assert run_batch(spec, library, workers=2) == results
