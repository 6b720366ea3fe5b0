"""The bundle format: round trip, atomic replacement, clear errors, the embedded default."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genrelab.errors import ModelError
from genrelab.labels import GTZAN
from genrelab.models import create_model, load_bundle, read_card
from genrelab.models.bundle import Bundle, ModelCard


def _bundle(C: float = 1.0) -> Bundle:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (20, 3)), rng.normal(3, 1, (20, 3))])
    y = np.repeat(["a", "b"], 20)
    model = create_model("logreg", C=C).fit(X, y)
    card = ModelCard(
        model="logreg",
        params=model.get_params(),
        labels=["a", "b"],
        sample_rate=22050,
        frontend={"kind": "features", "feature_set": "gtzan57"},
    )
    return Bundle(card, model)


def test_round_trip_keeps_card_and_probabilities(tmp_path):
    bundle = _bundle()
    path = bundle.save(tmp_path / "m")
    again = load_bundle(path)
    assert again.card == bundle.card
    X = np.random.default_rng(1).normal(1.5, 2, (5, 3))
    np.testing.assert_array_equal(again.model.predict_proba(X), bundle.model.predict_proba(X))
    card = json.loads((path / "card.json").read_text())
    assert card["format_version"] == 1 and card["labels"] == ["a", "b"]


def test_saving_over_an_existing_bundle_replaces_it_whole(tmp_path):
    path = _bundle(C=1.0).save(tmp_path / "m")
    _bundle(C=0.01).save(path)
    assert read_card(path).params["C"] == 0.01
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temp folders left behind


def test_a_failed_save_leaves_the_old_bundle_untouched(tmp_path, monkeypatch):
    path = _bundle(C=1.0).save(tmp_path / "m")
    broken = _bundle(C=5.0)
    monkeypatch.setattr(broken.model, "save", lambda d: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        broken.save(path)
    assert read_card(path).params["C"] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_clear_errors_for_things_that_are_not_bundles(tmp_path):
    with pytest.raises(ModelError, match="no model bundle at"):
        load_bundle(tmp_path / "missing")
    with pytest.raises(ModelError, match="not a model bundle"):
        load_bundle(tmp_path)
    (tmp_path / "card.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        load_bundle(tmp_path)
    (tmp_path / "card.json").write_text(json.dumps({"model": "svm"}))
    with pytest.raises(ModelError, match="lacks frontend, labels, params, sample_rate"):
        load_bundle(tmp_path)


def test_newer_format_is_refused(tmp_path):
    path = _bundle().save(tmp_path / "m")
    card = json.loads((path / "card.json").read_text())
    card["format_version"] = 99
    (path / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="upgrade genrelab"):
        load_bundle(path)


def test_embedded_default_model_card_reports_honest_validation():
    card = load_bundle().card
    assert card.labels == sorted([*GTZAN, "electronic"])
    assert set(card.training["sources"]) == {"gtzan-dev", "gtzan-excerpts", "emotify-dev"}
    by_part = {entry.get("part"): entry for entry in card.validation}
    assert all("whole groups held out" in e["protocol"] for part, e in by_part.items() if part)
    emotify = by_part["emotify-dev"]["metrics"]["per_class"]
    # The floors, under leave-artist-out cross-validation.
    assert emotify["classical"]["recall"] >= 0.90
    assert emotify["rock"]["recall"] >= 0.85 and emotify["electronic"]["recall"] >= 0.85
    assert 0.5 < by_part["gtzan-dev (--labels gtzan)"]["metrics"]["accuracy"] <= 1.0
    assert by_part["gtzan-dev (--labels gtzan)"]["metrics"]["n"] == 30
    assert card.windowing["min_s"] <= 3.0


def test_a_saved_bundle_gets_the_usual_folder_permissions(tiny_bundle, tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        saved = load_bundle(tiny_bundle).save(tmp_path / "copy")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o755  # not mkdtemp's private 0o700
