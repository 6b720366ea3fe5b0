"""``--labels``: a subset of a model's labels, renormalised, on every surface."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from genrelab import synth
from genrelab.batch import EngineSpec
from genrelab.cli import main
from genrelab.errors import ModelError
from genrelab.labels import GTZAN, parse_labels, resolve_labels, restrict
from genrelab.pipeline import Classifier

LABELS = ["ambient", "classical", "rock"]  # tiny_bundle's, in the model's order


def test_presets_and_lists_expand_in_order_without_duplicates():
    assert parse_labels("gtzan") == GTZAN
    assert parse_labels(" rock, jazz ,rock") == ("rock", "jazz")
    assert parse_labels(["gtzan", "electronic"]) == (*GTZAN, "electronic")
    assert parse_labels(None) is None and parse_labels(" , ") is None


def test_resolve_keeps_model_order_and_names_unknown_labels():
    assert resolve_labels("rock,ambient", LABELS) == ["ambient", "rock"]
    assert resolve_labels(None, LABELS) == LABELS
    with pytest.raises(ModelError, match=r"unknown label 'jazz': this model has ambient"):
        resolve_labels("rock,jazz", LABELS)
    with pytest.raises(ModelError, match="at least two"):
        resolve_labels("rock", LABELS)


def test_restrict_renormalises_each_row_and_never_divides_by_zero():
    proba = np.array([[0.2, 0.6, 0.2], [0.0, 1.0, 0.0]])
    out = restrict(proba, [0, 2])
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(restrict(proba, [2, 1, 0]), proba[:, [2, 1, 0]])


@pytest.fixture(scope="module")
def track(tmp_path_factory):
    path = tmp_path_factory.mktemp("labels") / "song.wav"
    sf.write(path, synth.song(6.0, style="classical", seed=3), 22050)
    return path


def test_classifier_and_engine_agree_on_the_restricted_answer(tiny_bundle, track):
    full = Classifier(tiny_bundle).classify(track)
    sub = Classifier(tiny_bundle, labels="rock,ambient").classify(track)
    assert set(sub.probabilities) == {"rock", "ambient"}
    assert sum(sub.probabilities.values()) == pytest.approx(1.0)
    for w_full, w_sub in zip(full.windows, sub.windows, strict=True):
        kept = w_full.probabilities["rock"] + w_full.probabilities["ambient"]
        assert w_sub.probabilities["rock"] == pytest.approx(w_full.probabilities["rock"] / kept)
    engine = EngineSpec((str(tiny_bundle),), labels=("rock", "ambient")).build()
    result = engine.classify(track)
    assert result["genre"] == sub.genre
    for label, p in sub.probabilities.items():
        assert result["probabilities"][label] == pytest.approx(p, abs=1e-12)


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def test_cli_classify_labels_and_unknown_label_error(tiny_bundle, track, capsys):
    code, out, _ = run(
        ["classify", track, "-m", tiny_bundle, "--labels", "rock,ambient", "--json"], capsys
    )
    assert code == 0
    [result] = json.loads(out)
    assert set(result["probabilities"]) == {"rock", "ambient"}
    assert all(set(w["probabilities"]) == {"rock", "ambient"} for w in result["windows"])
    code, _, err = run(["classify", track, "-m", tiny_bundle, "--labels", "gtzan"], capsys)
    assert code == 2
    assert err.strip().count("\n") == 0 and "unknown labels" in err and "'blues'" in err


def test_cli_evaluate_skips_rows_outside_the_labels(tiny_bundle, synth_dataset, tmp_path, capsys):
    argv = ["evaluate", tiny_bundle, "--data", synth_dataset, "--labels", "rock,classical"]
    argv.append("--include-seen")  # tiny_bundle was fitted on these rows
    code, _, err = run([*argv, "-o", tmp_path / "eval"], capsys)
    assert code in (0, None)
    assert "skipped 4 rows labelled outside --labels (ambient)" in err
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n"] == 8
    assert set(metrics["per_class"]) <= {"rock", "classical"}


def test_service_labels_query(tiny_bundle, tmp_path):
    from genrelab.service import ServiceSettings, create_app

    settings = ServiceSettings(tmp_dir=tmp_path, warm_up=False)
    buf = io.BytesIO()
    sf.write(buf, synth.song(5.0, style="rock", seed=1), 22050, format="WAV")
    with TestClient(create_app(tiny_bundle, settings)) as client:
        files = {"file": ("song.wav", buf.getvalue(), "audio/wav")}
        ok = client.post("/v1/classify?labels=rock,classical", files=files)
        assert ok.status_code == 200
        assert set(ok.json()["probabilities"]) == {"rock", "classical"}
        bad = client.post("/v1/classify?labels=jazz,rock", files=files)
        assert bad.status_code == 422 and "unknown label 'jazz'" in bad.json()["error"]
