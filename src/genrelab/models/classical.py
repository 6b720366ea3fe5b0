"""scikit-learn and XGBoost models on feature vectors, with scaling inside the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler

from genrelab.models.base import GenreModel, register_model

_FILE = "pipeline.joblib"


class SklearnModel(GenreModel):
    """Shared fit/predict/save for models that are one scikit-learn pipeline."""

    input_kind = "features"
    pipeline_: Pipeline

    def build(self) -> Pipeline:
        raise NotImplementedError

    def fit(self, X, y, *, X_valid=None, y_valid=None):
        encoder = LabelEncoder().fit(np.asarray(y))
        self.classes_ = encoder.classes_.astype(str)
        self.pipeline_ = self.build().fit(np.asarray(X, dtype=np.float64), encoder.transform(y))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        proba = self.pipeline_.predict_proba(np.asarray(X, dtype=np.float64))
        # A class absent from training would misalign columns; pipelines here see every class.
        return np.asarray(proba, dtype=np.float64)

    def save(self, directory: Path) -> None:
        joblib.dump({"pipeline": self.pipeline_, "classes": self.classes_}, directory / _FILE)

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> SklearnModel:
        state = joblib.load(directory / _FILE)
        model = cls(**params)
        model.pipeline_, model.classes_ = state["pipeline"], state["classes"]
        return model


@register_model("knn")
class KNNModel(SklearnModel):
    def __init__(self, n_neighbors: int = 7, weights: str = "distance"):
        self.n_neighbors = n_neighbors
        self.weights = weights

    def build(self) -> Pipeline:
        from sklearn.neighbors import KNeighborsClassifier

        return make_pipeline(
            StandardScaler(), KNeighborsClassifier(self.n_neighbors, weights=self.weights)
        )


@register_model("logreg")
class LogisticModel(SklearnModel):
    def __init__(self, C: float = 1.0, max_iter: int = 5000):
        self.C = C
        self.max_iter = max_iter

    def build(self) -> Pipeline:
        from sklearn.linear_model import LogisticRegression

        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=self.max_iter))


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
        return make_pipeline(StandardScaler(), calibrated)


@register_model("random_forest")
class RandomForestModel(SklearnModel):
    def __init__(
        self, n_estimators: int = 500, max_depth: int | None = None, seed: int = 0, n_jobs: int = -1
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
        return make_pipeline(StandardScaler(), forest)

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
        n_jobs: int = -1,
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
        return make_pipeline(StandardScaler(), booster)

    def feature_importances(self) -> np.ndarray:
        return self.pipeline_[-1].feature_importances_
