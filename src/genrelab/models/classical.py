"""scikit-learn and XGBoost models on feature vectors, with scaling inside the pipeline.

Importing this module imports neither scikit-learn nor XGBoost nor joblib: a saved model of a
common shape also has a ``portable.npz`` (:mod:`genrelab.models.portable`) that predicts with
NumPy alone, so ``classify`` starts fast; the pipeline itself is unpickled only when asked for,
and only for a bundle the user trusts (:mod:`genrelab.models.trust`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genrelab.errors import ModelError
from genrelab.models import trust
from genrelab.models.base import GenreModel, register_model
from genrelab.models.portable import FILE as _PORTABLE
from genrelab.models.portable import PortablePredictor, export_pipeline

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

_FILE = "pipeline.joblib"
#: Random forests use up to 4 cores. XGBoost and KNN default to one thread: on the 930-row
#: GTZAN table XGBoost's OpenMP threads spin against each other and any other load (2-core VM
#: under load: 22 s on one thread, 54-150 s on 2, 4 or all; same accuracy), see
#: ``bench/threads.py``. ``-p n_jobs=N`` overrides either (-1: every core).
FOREST_JOBS = min(4, os.cpu_count() or 1)


class SklearnModel(GenreModel):
    """Shared fit/predict/save for models that are one scikit-learn pipeline."""

    input_kind = "features"
    _pipeline: Pipeline | None = None
    #: Answers ``predict_proba`` when the model was loaded from ``portable.npz``.
    _portable: PortablePredictor | None = None
    #: Folder whose ``pipeline.joblib`` is unpickled on first use of ``pipeline_``.
    _source: Path | None = None

    def build(self) -> Pipeline:
        raise NotImplementedError

    @property
    def pipeline_(self) -> Pipeline:
        """The fitted pipeline; a portable-loaded model unpickles it here, on first use."""
        if self._pipeline is None:
            if self._source is None:
                raise AttributeError(f"{type(self).__name__} is not fitted")
            self._pipeline = _read_state(self._source)["pipeline"]
        return self._pipeline

    @pipeline_.setter
    def pipeline_(self, pipeline: Pipeline) -> None:
        self._pipeline, self._portable, self._source = pipeline, None, None

    def fit(self, X, y, *, X_valid=None, y_valid=None):
        from sklearn.preprocessing import LabelEncoder

        encoder = LabelEncoder().fit(np.asarray(y))
        self.classes_ = encoder.classes_.astype(str)
        self.pipeline_ = self.build().fit(np.asarray(X, dtype=np.float64), encoder.transform(y))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        if self._portable is not None:
            return self._portable.predict_proba(X)
        proba = self.pipeline_.predict_proba(np.asarray(X, dtype=np.float64))
        # A class absent from training would misalign columns; pipelines here see every class.
        return np.asarray(proba, dtype=np.float64)

    def save(self, directory: Path) -> None:
        """Write ``pipeline.joblib`` and, for a supported pipeline, ``portable.npz``."""
        if self._pipeline is None and self._source is not None:
            # Loaded portable and never unpickled: copy the pickle rather than import sklearn.
            source, target = self._source / _FILE, directory / _FILE
            if not source.is_file():
                raise ModelError(f"cannot re-save: {source} is gone")
            if not target.exists() or not target.samefile(source):
                shutil.copyfile(source, target)
        else:
            import joblib

            joblib.dump({"pipeline": self.pipeline_, "classes": self.classes_}, directory / _FILE)
        portable = self._portable
        if portable is None:
            arrays = export_pipeline(self.pipeline_)
            if arrays is not None:
                portable = PortablePredictor(
                    {**arrays, "classes": np.asarray(self.classes_, dtype=str)}
                )
        if portable is not None:
            portable.save(directory / _PORTABLE)

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> SklearnModel:
        """Prefer ``portable.npz`` (NumPy only); fall back to unpickling ``pipeline.joblib``."""
        model = cls(**params)
        if (directory / _PORTABLE).is_file():
            portable = PortablePredictor.load(directory / _PORTABLE)
            if portable.classes is None:
                raise ModelError(f"{directory / _PORTABLE} does not list the model's classes")
            model._portable, model._source = portable, directory
            model.classes_ = portable.classes
            return model
        state = _read_state(directory)
        model.pipeline_, model.classes_ = state["pipeline"], state["classes"]
        return model


def _read_state(directory: Path) -> dict[str, Any]:
    """Unpickle ``pipeline.joblib``: only when the user trusts the bundle (it can run code)."""
    if not (directory / _FILE).is_file():
        raise ModelError(f"no {_FILE} in {directory}")
    trust.require_pickle(directory / _FILE)
    import joblib

    return joblib.load(directory / _FILE)


def _scaled(estimator: Any) -> Pipeline:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), estimator)


@register_model("knn")
class KNNModel(SklearnModel):
    def __init__(self, n_neighbors: int = 7, weights: str = "distance", n_jobs: int = 1):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.n_jobs = n_jobs

    def build(self) -> Pipeline:
        from sklearn.neighbors import KNeighborsClassifier

        return _scaled(
            KNeighborsClassifier(self.n_neighbors, weights=self.weights, n_jobs=self.n_jobs)
        )


@register_model("logreg")
class LogisticModel(SklearnModel):
    def __init__(self, C: float = 1.0, max_iter: int = 5000):
        self.C = C
        self.max_iter = max_iter

    def build(self) -> Pipeline:
        from sklearn.linear_model import LogisticRegression

        return _scaled(LogisticRegression(C=self.C, max_iter=self.max_iter))


@register_model("svm")
class SVMModel(SklearnModel):
    """RBF SVM whose probabilities come from temperature scaling fitted on internal folds.

    Temperature scaling keeps the SVM's ranking of classes, so the most probable genre is
    the one the SVM itself picks (Platt's one-vs-rest sigmoids change it and cost accuracy).
    """

    def __init__(
        self, C: float = 3.0, gamma: str | float = "scale", kernel: str = "rbf", seed: int = 0
    ):
        self.C = C
        self.gamma = gamma
        self.kernel = kernel
        self.seed = seed

    def build(self) -> Pipeline:
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        svc = SVC(C=self.C, gamma=self.gamma, kernel=self.kernel, random_state=self.seed)
        calibrated = CalibratedClassifierCV(svc, method="temperature", ensemble=False, cv=5)
        return _scaled(calibrated)


@register_model("random_forest")
class RandomForestModel(SklearnModel):
    def __init__(
        self,
        n_estimators: int = 500,
        max_depth: int | None = None,
        seed: int = 0,
        n_jobs: int = FOREST_JOBS,
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.seed = seed
        self.n_jobs = n_jobs

    def build(self) -> Pipeline:
        from sklearn.ensemble import RandomForestClassifier

        forest = RandomForestClassifier(
            self.n_estimators, max_depth=self.max_depth, random_state=self.seed, n_jobs=self.n_jobs
        )
        return _scaled(forest)

    def feature_importances(self) -> np.ndarray:
        return self.pipeline_[-1].feature_importances_


@register_model("xgboost")
class XGBoostModel(SklearnModel):
    def __init__(
        self,
        n_estimators: int = 500,
        learning_rate: float = 0.05,
        max_depth: int = 4,
        subsample: float = 0.8,
        colsample_bytree: float = 0.5,
        seed: int = 0,
        n_jobs: int = 1,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.seed = seed
        self.n_jobs = n_jobs

    def build(self) -> Pipeline:
        from xgboost import XGBClassifier

        booster = XGBClassifier(
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            random_state=self.seed,
            n_jobs=self.n_jobs,
            tree_method="hist",
        )
        return _scaled(booster)

    def feature_importances(self) -> np.ndarray:
        return self.pipeline_[-1].feature_importances_
