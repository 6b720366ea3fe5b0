"""Bundle ensembles: members with their own front ends and rates, usable like any bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genrelab.cli import main
from genrelab.errors import DataError, ModelError
from genrelab.experiments.ensemble import RawWindows, build_ensemble, fit_soft_weights
from genrelab.features.sets import FEATURE_SETS, FeatureSet, register_feature_set
from genrelab.models import load_bundle
from genrelab.pipeline import Classifier
from genrelab.training import load_feature_data, train


def _frames(y: np.ndarray, n: int = 1024) -> np.ndarray:
    usable = max(n, y.size - y.size % n)
    return np.pad(y, (0, max(0, usable - y.size)))[:usable].reshape(-1, n)


def _spectral(y: np.ndarray, sr: int) -> np.ndarray:
    mags = np.abs(np.fft.rfft(_frames(y) * np.hanning(1024), axis=1)) + 1e-9
    freqs = np.fft.rfftfreq(1024, 1 / sr)
    centroid = (mags * freqs).sum(1) / mags.sum(1)
    flatness = np.exp(np.log(mags).mean(1)) / mags.mean(1)
    return np.array([centroid.mean() / 1000, flatness.mean(), np.log(np.mean(y**2) + 1e-9)])


def _envelope(y: np.ndarray, sr: int) -> np.ndarray:
    rms = np.sqrt((_frames(y, 512) ** 2).mean(1))
    return np.array(
        [rms.std() / (rms.mean() + 1e-9), np.abs(np.diff(y)).mean() * 10, np.abs(y).max()]
    )


# Two cheap feature sets, so members differ in front end (and below, in rate and window).
for name, fn, size in (("ens-spectral", _spectral, 3), ("ens-envelope", _envelope, 3)):
    if name not in FEATURE_SETS:
        register_feature_set(FeatureSet(name, tuple(f"{name}-{i}" for i in range(size)), fn))


def _member(dataset: Path, folder: Path, feature_set: str, window: float, sr: int, shuffle=False):
    data = load_feature_data(
        str(dataset),
        feature_set,
        window_s=window,
        hop_s=window,
        sr=sr,
        cache_dir=str(folder / "cache"),
    )
    if shuffle:  # a member that learnt nothing useful
        data.labels = np.random.default_rng(0).permutation(data.labels)
    return train(data, "logreg", protocol="kfold-2").save(folder / f"{feature_set}-{sr}-{shuffle}")


@pytest.fixture(scope="module")
def members(synth_dataset: Path, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("members")
    return {
        "spectral": _member(synth_dataset, folder, "ens-spectral", 2.0, 22050),
        "envelope": _member(synth_dataset, folder, "ens-envelope", 1.0, 16000),
        "noise": _member(synth_dataset, folder, "ens-spectral", 2.0, 22050, shuffle=True),
    }


def test_soft_ensemble_answers_as_its_members_do(
    members: dict[str, Path], synth_dataset: Path, tmp_path: Path
) -> None:
    bundle = build_ensemble([members["spectral"], members["envelope"]], weights=[3, 1])
    card = bundle.card
    assert card.sample_rate == 22050 and card.frontend == {"kind": "raw_windows"}
    assert card.windowing["window_s"] == 2.0 and card.windowing["min_s"] == 2.0  # the strictest
    saved = bundle.save(tmp_path / "ens")
    assert {p.name for p in (saved / "model").iterdir()} >= {"member-0", "member-1"}

    clip = next((synth_dataset / "rock").iterdir())
    result = Classifier(saved).classify(clip)
    # by hand: each member's own classify on every 2 s ensemble window, weighted 3:1, averaged
    from genrelab.audio import fixed_windows, load

    y, _ = load(clip, sr=22050)
    a, b = Classifier(members["spectral"]), Classifier(members["envelope"])
    expected = np.mean(
        [
            0.75 * np.array(list(a.classify(w.take(y), 22050).probabilities.values()))
            + 0.25 * np.array(list(b.classify(w.take(y), 22050).probabilities.values()))
            for w in fixed_windows(y.size, 22050, 2.0, 2.0, min_last_s=2.0 / 3)
        ],
        axis=0,
    )
    assert a.labels == b.labels == list(result.probabilities)
    np.testing.assert_allclose(list(result.probabilities.values()), expected, atol=1e-9)
    assert len(result.windows) == 2


def test_an_ensemble_hears_more_windows_than_one_batch_alike_everywhere(
    members: dict[str, Path], tmp_path: Path
) -> None:
    from genrelab import synth
    from genrelab.pipeline import BATCH_WINDOWS, Heard, Pipeline

    saved = build_ensemble([members["spectral"], members["envelope"]]).save(tmp_path / "ens")
    pipe = Pipeline(saved)
    y = synth.song(2.0 * (BATCH_WINDOWS + 3), style="rock", seed=4)
    streamed = pipe.hear(y)  # one batch at a time, as files stream
    windows = [samples for _, samples in pipe.windowing.windows(y)]
    inputs = pipe.features(windows, len(windows))  # all at once, as the Ray stages run
    assert len(streamed.spans) == len(inputs) == BATCH_WINDOWS + 3
    np.testing.assert_array_equal(pipe.predict(inputs), streamed.proba)
    whole = pipe.answer(None, Heard(streamed.spans, pipe.predict(inputs)))
    assert whole.probabilities == pipe.classify(y, 22050).probabilities


def test_learnt_weights_favour_the_member_that_knows(
    members: dict[str, Path], synth_dataset: Path
) -> None:
    bundle = build_ensemble(
        [members["spectral"], members["noise"]],
        data=str(synth_dataset),
        split="all",
        include_seen=True,  # the members were fitted on every track
    )
    good, noise = bundle.card.training["weights"]
    assert good > 0.8 > 0.2 > noise
    assert bundle.card.training["tracks"] == 12
    accuracy = bundle.card.training["member_accuracy"]
    assert accuracy[0] > accuracy[1]
    assert bundle.card.validation[0]["metrics"]["n"] == 12  # cross-validated over the tracks


def test_soft_weights_minimise_log_loss() -> None:
    # member 0 always right, member 1 always wrong: all weight goes to member 0
    P = np.zeros((6, 2, 3))
    targets = np.array([0, 1, 2, 0, 1, 2])
    P[np.arange(6), 0, targets] = 0.9
    P[np.arange(6), 0, (targets + 1) % 3] = 0.1
    P[np.arange(6), 1, (targets + 1) % 3] = 1.0
    weights = fit_soft_weights(P, targets)
    assert weights.sum() == pytest.approx(1.0) and weights[0] > 0.99


def test_stacking_cli_bundle_works_with_classify_and_evaluate(
    members: dict[str, Path], synth_dataset: Path, tmp_path: Path, capsys
) -> None:
    target = tmp_path / "stacked"
    evaluation = str(tmp_path / "eval")
    argv = ["ensemble", str(members["spectral"]), str(members["envelope"]), "-o", str(target)]
    argv += ["--method", "stack", "--data", str(synth_dataset), "--split", "all", "--include-seen"]
    for command in (
        argv,
        ["classify", "-m", str(target), "--json", str(synth_dataset / "classical")],
        ["evaluate", str(target), "--data", str(synth_dataset), "--include-seen", "-o", evaluation],
    ):
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(command)
        assert exit_info.value.code == 0, command
        if command[0] == "classify":
            results = json.loads(capsys.readouterr().out)
    assert len(results) == 4 and all(r["genre"] == "classical" for r in results)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n"] == 12 and metrics["accuracy"] > 0.9
    stacked = load_bundle(target)
    assert stacked.card.params["method"] == "stack"
    assert (target / "model" / "stacker.npz").is_file()  # plain arrays, no pickle
    assert not (target / "model" / "stacker.joblib").exists()


def test_members_with_different_genres_are_unioned(
    members: dict[str, Path], synth_dataset: Path, tmp_path: Path
) -> None:
    two = tmp_path / "two"
    two.mkdir()
    for style in ("ambient", "classical"):
        (two / style).symlink_to(synth_dataset / style)
    narrow = _member(two, tmp_path, "ens-envelope", 1.0, 16000)
    bundle = build_ensemble([members["spectral"], narrow])
    assert bundle.card.labels == ["ambient", "classical", "rock"]
    window = np.zeros(22050 * 2, dtype=np.float32) + 0.01
    P = bundle.model.member_proba(RawWindows([window], 22050))
    assert P[0, 1, 2] == 0.0  # the narrow member never says "rock"
    assert P[0, 1].sum() == pytest.approx(1.0) and P[0, 0].sum() == pytest.approx(1.0)


def test_bad_ensembles_are_clear_errors(members: dict[str, Path]) -> None:
    with pytest.raises(ModelError, match="at least two"):
        build_ensemble([members["spectral"]])
    with pytest.raises(DataError, match="needs labelled tracks"):
        build_ensemble([members["spectral"], members["envelope"]], method="stack")
    with pytest.raises(ModelError, match="2 members but 3 weights"):
        build_ensemble([members["spectral"], members["envelope"]], weights=[1, 2, 3])
    with pytest.raises(ModelError, match="unknown ensemble method"):
        build_ensemble([members["spectral"], members["envelope"]], method="hard")


def test_the_service_serves_an_ensemble(
    members: dict[str, Path], synth_dataset: Path, tmp_path: Path
) -> None:
    testclient = pytest.importorskip("fastapi.testclient")
    from genrelab.service import app as service

    saved = build_ensemble([members["spectral"], members["envelope"]]).save(tmp_path / "ens")
    clip = next((synth_dataset / "ambient").iterdir())
    app = service.create_app(saved, service.ServiceSettings(warm_up=False))
    with testclient.TestClient(app) as client:
        response = client.post("/v1/classify", files={"file": (clip.name, clip.read_bytes())})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = Classifier(saved).classify(clip)
    assert body["genre"] == expected.genre == "ambient"
    assert body["probabilities"] == pytest.approx(expected.probabilities)
