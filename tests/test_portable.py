"""NumPy-only inference (portable.npz): same probabilities as the libraries, no heavy imports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

from genrelab.errors import ModelError
from genrelab.models import create_model, default_bundle_path, load_bundle
from genrelab.models.bundle import Bundle, ModelCard
from genrelab.models.classical import SklearnModel
from genrelab.models.portable import FILE, PortablePredictor, export_pipeline
from genrelab.models.trust import Trust, trusting

#: Tolerances promised by the module: float64 models exact to 1e-9, XGBoost (float32) to 1e-6.
TOL = {"logreg": 1e-9, "svm": 1e-9, "xgboost": 1e-6, "knn": 1e-9, "random_forest": 1e-9}
PARAMS = {
    "logreg": {},
    "svm": {},
    "xgboost": {"n_estimators": 60, "max_depth": 4, "n_jobs": 1},
    "knn": {},
    "random_forest": {"n_estimators": 30, "n_jobs": 1},
}
LABELS = [f"g{i}" for i in range(10)]
HEAVY = ("sklearn", "xgboost", "joblib", "scipy")


def _data(n_classes: int = 10, per_class: int = 30, width: int = 12, seed: int = 0):
    """Gaussian classes on features of very different scales, plus rows to predict."""
    rng = np.random.default_rng(seed)
    scales = 10.0 ** rng.integers(-2, 4, size=width)
    centres = rng.normal(0, 1.5, size=(n_classes, width))
    X = np.concatenate([rng.normal(c, 1.0, size=(per_class, width)) for c in centres]) * scales
    y = np.repeat([f"g{i}" for i in range(n_classes)], per_class)
    extreme = np.array([50.0, -50.0, 1e3, -1e3, 1e6])[:, None] * scales * np.ones((5, width))
    test = np.vstack([X, rng.normal(0, 3, size=(40, width)) * scales, extreme, np.zeros(width)])
    return X, y, test


@pytest.fixture(scope="module")
def fitted() -> dict[str, SklearnModel]:
    X, y, _ = _data()
    return {name: create_model(name, **params).fit(X, y) for name, params in PARAMS.items()}


def _portable(model: SklearnModel) -> PortablePredictor:
    arrays = export_pipeline(model.pipeline_)
    assert arrays is not None, f"{model.name} should export"
    return PortablePredictor(arrays)


def _assert_same(got: np.ndarray, expected: np.ndarray, tol: float) -> float:
    assert got.shape == expected.shape and got.dtype == np.float64
    diff = float(np.abs(got - expected).max())
    assert diff <= tol, f"max abs difference {diff:.3g} > {tol:g}"
    np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
    return diff


@pytest.mark.parametrize("name", list(PARAMS))
def test_portable_probabilities_equal_the_library(fitted, name):
    model = fitted[name]
    _, _, test = _data()
    expected = model.pipeline_.predict_proba(test)
    _assert_same(_portable(model).predict_proba(test), expected, TOL[name])


@pytest.mark.parametrize("consecutive", [True, False])
def test_xgboost_missing_values_take_the_default_branch(fitted, consecutive):
    model = fitted["xgboost"]
    X, _, test = _data()
    rows = np.vstack([X[:40], test[-6:]])
    rows[0] = np.nan  # a whole row missing
    rows[1:40, ::3] = np.nan  # every third feature missing
    portable = _portable(model)
    assert portable._consecutive  # XGBoost numbers a right child after its left sibling
    portable._consecutive = consecutive  # the general walk, for trees numbered otherwise
    expected = model.pipeline_.predict_proba(rows)
    got = portable.predict_proba(rows)
    _assert_same(got, expected, TOL["xgboost"])
    assert not np.allclose(got[1], portable.predict_proba(X[1:2])[0])  # the NaNs did matter
    no_nan = test[:50]
    _assert_same(portable.predict_proba(no_nan), model.pipeline_.predict_proba(no_nan), 1e-6)


@pytest.mark.parametrize("kernel", ["rbf", "linear", "poly", "sigmoid"])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_svm_kernels_and_two_classes(kernel, n_classes):
    X, y, test = _data(n_classes=n_classes, per_class=25, width=6, seed=n_classes)
    model = create_model("svm", kernel=kernel).fit(X, y)
    expected = model.pipeline_.predict_proba(test)
    _assert_same(_portable(model).predict_proba(test), expected, TOL["svm"])


def test_two_class_logistic_regression():
    X, y, test = _data(n_classes=2, seed=3)
    model = create_model("logreg").fit(X, y)
    expected = model.pipeline_.predict_proba(test)
    _assert_same(_portable(model).predict_proba(test), expected, TOL["logreg"])


def test_unsupported_pipelines_are_not_exported():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.svm import SVC
    from xgboost import XGBClassifier

    X, y, _ = _data(n_classes=3, width=4)
    ints = np.unique(y, return_inverse=True)[1]
    from sklearn.neighbors import KNeighborsClassifier

    manhattan = make_pipeline(StandardScaler(), KNeighborsClassifier(metric="manhattan"))
    assert export_pipeline(manhattan.fit(X, y)) is None
    unsupported = [
        make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(), method="sigmoid")),
        make_pipeline(StandardScaler(), CalibratedClassifierCV(SVC(), method="temperature")),
        make_pipeline(MinMaxScaler(), create_model("logreg").build()[-1]),
        make_pipeline(StandardScaler(), XGBClassifier(n_estimators=5, n_jobs=1)),  # binary
    ]
    for i, pipeline in enumerate(unsupported):
        target = ints if i < 3 else (ints > 0).astype(int)
        assert export_pipeline(pipeline.fit(X, target)) is None, pipeline


def test_an_export_that_disagrees_with_the_library_is_refused(fitted, monkeypatch):
    wrong = lambda self, X: np.full((len(X), self.n_classes), 1 / self.n_classes)  # noqa: E731
    monkeypatch.setattr(PortablePredictor, "_proba_logreg", wrong)
    with pytest.warns(RuntimeWarning, match="disagrees"):
        assert export_pipeline(fitted["logreg"].pipeline_) is None


def test_bad_input_is_refused_like_the_library(fitted):
    model = fitted["logreg"]
    portable = _portable(model)
    X = np.zeros((2, 12))
    for bad in (np.zeros((2, 11)), np.where(np.eye(2, 12) > 0, np.nan, X), X.ravel()):
        with pytest.raises(ValueError):
            model.pipeline_.predict_proba(bad)
        with pytest.raises(ValueError):
            portable.predict_proba(bad)


def _card(model: SklearnModel) -> ModelCard:
    return ModelCard(
        model=model.name,
        params=model.get_params(),
        labels=[str(c) for c in model.classes_],
        sample_rate=22050,
        frontend={"kind": "features", "feature_set": "gtzan57"},
    )


def _no_unpickling(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("joblib.load called")

    monkeypatch.setattr(joblib, "load", refuse)


@pytest.mark.parametrize("name", list(PARAMS))
def test_bundle_round_trip_predicts_without_unpickling(fitted, name, tmp_path, monkeypatch):
    model = fitted[name]
    path = Bundle(_card(model), model).save(tmp_path / "b")
    assert (path / "model" / FILE).is_file() and (path / "model" / "pipeline.joblib").is_file()
    _, _, test = _data()
    with monkeypatch.context() as patch:
        _no_unpickling(patch)
        loaded = load_bundle(path).model
        got = loaded.predict_proba(test)
        # Re-saving copies the pickle as it is and writes the portable file again.
        Bundle(_card(loaded), loaded).save(tmp_path / "again")
    assert list(loaded.classes_) == LABELS
    _assert_same(got, model.predict_proba(test), TOL[name])
    for file in ("pipeline.joblib", FILE):
        again = (tmp_path / "again" / "model" / file).read_bytes()
        assert again == (path / "model" / file).read_bytes(), file
    # The pipeline itself is still there, unpickled on first use (by a trusting user only).
    with pytest.raises(ModelError, match="--trust-bundle"):
        _ = loaded.pipeline_
    with trusting(Trust(pickle=True)):
        pipeline = loaded.pipeline_
    np.testing.assert_array_equal(pipeline.predict_proba(test), model.predict_proba(test))


def test_feature_importances_unpickle_lazily(fitted, tmp_path):
    model = fitted["xgboost"]
    model.save(tmp_path)
    loaded = type(model).load(tmp_path, model.get_params())
    assert loaded._pipeline is None  # portable: nothing unpickled yet
    with trusting(Trust(pickle=True)):
        importances = loaded.feature_importances()
    np.testing.assert_array_equal(importances, model.feature_importances())


def test_a_pickle_only_bundle_loads_only_when_trusted(fitted, tmp_path):
    model = fitted["knn"]
    path = Bundle(_card(model), model).save(tmp_path / "b")
    (path / "model" / FILE).unlink()  # as saved by an older genrelab
    with pytest.raises(ModelError, match="--trust-bundle"):
        load_bundle(path)
    again = load_bundle(path, trust=Trust(pickle=True)).model
    _, _, test = _data()
    np.testing.assert_array_equal(again.predict_proba(test), model.predict_proba(test))


def _corrupt_truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def _corrupt_garbage(path: Path) -> None:
    path.write_bytes(b"not a zip file at all")


def _corrupt_missing_key(path: Path) -> None:
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "coef"}
    np.savez(path, **arrays)


def _corrupt_shape(path: Path) -> None:
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["coef"] = arrays["coef"][:, :5]
    np.savez(path, **arrays)


def _corrupt_pickled(path: Path) -> None:
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["kind"] = np.array([{"evil": 1}], dtype=object)
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "corrupt",
    [_corrupt_truncated, _corrupt_garbage, _corrupt_missing_key, _corrupt_shape, _corrupt_pickled],
)
def test_a_corrupt_portable_file_is_a_clear_error(fitted, corrupt, tmp_path):
    model = fitted["logreg"]
    path = Bundle(_card(model), model).save(tmp_path / "b")
    corrupt(path / "model" / FILE)
    with pytest.raises(ModelError, match=r"portable\.npz is not a valid portable model"):
        load_bundle(path)


def test_default_bundle_loads_and_predicts_with_numpy_only(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from genrelab.models import load_bundle\n"
        "bundle = load_bundle(None)\n"
        "p = bundle.model.predict_proba(np.zeros((2, 1253)))\n"
        "assert p.shape == (2, len(bundle.labels)) and np.allclose(p.sum(1), 1)\n"
        f"bundle.save({str(tmp_path / 'copy')!r})\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    pickles = sorted((tmp_path / "copy").rglob("pipeline.joblib"))
    assert len(pickles) == 5 and all((p.parent / FILE).is_file() for p in pickles)


def _members(model) -> list:
    """The SklearnModel leaves of a (nested) ensemble, in member order (the tag prior has none)."""
    if isinstance(model, SklearnModel):
        return [model]
    return [leaf for member in getattr(model, "models_", []) for leaf in _members(member)]


def test_default_bundle_portable_equals_its_pickles(tmp_path):
    source = default_bundle_path()
    pickled = tmp_path / "pickled"
    shutil.copytree(source, pickled, ignore=shutil.ignore_patterns(FILE))
    portable, library = load_bundle(None), load_bundle(pickled, trust=Trust(pickle=True))
    assert json.loads((source / "card.json").read_text())["model"] == "column_stack"

    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 1253))
    np.testing.assert_allclose(
        portable.model.predict_proba(X), library.model.predict_proba(X), rtol=0, atol=1e-6
    )
    members = zip(_members(portable.model), _members(library.model), strict=True)
    columns = [(0, 200), (200, 953), (953, 1003), (1003, 1203), (1203, 1253)]
    for (fast, slow), (start, stop) in zip(members, columns, strict=True):
        assert fast._portable is not None and slow._portable is None
        scaler = slow.pipeline_[0]
        # Raw N(0, 1) rows and rows on the training data's own scale.
        for rows in (X[:, start:stop], scaler.mean_ + scaler.scale_ * X[:, start:stop]):
            _assert_same(fast.predict_proba(rows), slow.predict_proba(rows), TOL[slow.name])
