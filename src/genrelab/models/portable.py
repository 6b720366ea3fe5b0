"""Inference of the common classical pipelines with NumPy alone, so loading a bundle is fast.

Unpickling a scikit-learn or XGBoost model imports those libraries (and SciPy, pandas...),
which costs a classify process more time than the prediction itself. :func:`export_pipeline`
turns a fitted pipeline of a supported shape into plain arrays (saved as ``portable.npz``
beside ``pipeline.joblib``) and :class:`PortablePredictor` repeats the library's arithmetic
on them: the same float64 operations for the linear and SVM models (within 1e-9 of the
library), the same float32 tree walk and accumulation as XGBoost (within 1e-6). Training, and
every model of another shape, still go through the libraries. This module imports only NumPy.

Supported: an optional ``StandardScaler`` followed by ``LogisticRegression``,
``CalibratedClassifierCV(SVC, method="temperature", ensemble=False)``, an ``XGBClassifier``
with the ``multi:softprob`` objective, a Euclidean ``KNeighborsClassifier`` or a
``RandomForestClassifier``: every classical model genrelab trains, so a new bundle loads
without unpickling anything.
"""

from __future__ import annotations

import json
import sys
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.errors import ModelError

FILE = "portable.npz"
#: Bumped when the arrays change meaning; older readers refuse newer files.
FORMAT = 1
KINDS = ("logreg", "svm_temperature", "xgboost_softprob", "knn", "random_forest")
SVM_KERNELS = ("linear", "poly", "rbf", "sigmoid")
#: (rows x trees) per block of the tree walk: index arrays of a few MB stay in cache.
_TREE_BLOCK = 1 << 18

Arrays = dict[str, np.ndarray]


# ----------------------------------------------------------------------------- export


def export_pipeline(pipeline: Any) -> Arrays | None:
    """Plain arrays reproducing ``pipeline.predict_proba``, or None for an unsupported shape.

    The result is checked against the library on probe rows before it is returned, so a
    library whose arithmetic changed keeps the joblib path instead of predicting differently.
    """
    steps = [step for _, step in getattr(pipeline, "steps", [(None, pipeline)])]
    if not steps or len(steps) > 2:
        return None
    try:
        arrays: Arrays = {"format": np.array(FORMAT)}
        if len(steps) == 2:
            scaler = _export_scaler(steps[0])
            if scaler is None:
                return None
            arrays.update(scaler)
        final = _export_final(steps[-1])
        if final is None:
            return None
        if "n_features" in arrays and int(arrays["n_features"]) != int(final["n_features"]):
            return None
        arrays.update(final)
        return arrays if _agrees(pipeline, PortablePredictor(arrays)) else None
    except Exception as err:  # a library whose internals moved: keep the joblib path
        warnings.warn(
            f"cannot export {type(steps[-1]).__name__} portably ({err}); keeping pipeline.joblib only",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def _is(obj: Any, module: str, name: str) -> bool:
    """``type(obj)`` is exactly ``module.name``; never imports (an instance implies it is loaded)."""
    cls = getattr(sys.modules.get(module), name, None)
    return cls is not None and type(obj) is cls


def _export_scaler(step: Any) -> Arrays | None:
    if not _is(step, "sklearn.preprocessing", "StandardScaler"):
        return None
    n = int(step.n_features_in_)
    # Disabled centring/scaling is stored as 0/1: x - 0 and x / 1 are exact, so one code path.
    mean = step.mean_ if step.with_mean else np.zeros(n)
    scale = step.scale_ if step.with_std else np.ones(n)
    out: Arrays = {
        "scaler_mean": np.asarray(mean, dtype=np.float64),
        "scaler_scale": np.asarray(scale, dtype=np.float64),
        "n_features": np.array(n),
    }
    return out


def _export_final(est: Any) -> Arrays | None:
    if _is(est, "sklearn.linear_model", "LogisticRegression"):
        return _export_logreg(est)
    if _is(est, "sklearn.calibration", "CalibratedClassifierCV"):
        return _export_svm(est)
    if _is(est, "xgboost", "XGBClassifier"):
        return _export_xgboost(est)
    if _is(est, "sklearn.neighbors", "KNeighborsClassifier"):
        return _export_knn(est)
    if _is(est, "sklearn.ensemble", "RandomForestClassifier"):
        return _export_forest(est)
    return None


def _export_knn(est: Any) -> Arrays | None:
    if est.effective_metric_ != "euclidean" or est.weights not in ("uniform", "distance"):
        return None
    if est.outputs_2d_ or not isinstance(est._fit_X, np.ndarray):
        return None
    return {
        "kind": np.array("knn"),
        "n_classes": np.array(len(est.classes_)),
        "n_features": np.array(est._fit_X.shape[1]),
        "fit_X": np.asarray(est._fit_X, dtype=np.float64),
        "fit_y": np.asarray(est._y, dtype=np.int64),
        "n_neighbors": np.array(int(est.n_neighbors)),
        "weights": np.array(est.weights),
    }


def _export_forest(est: Any) -> Arrays | None:
    n_classes = len(est.classes_)
    if getattr(est, "n_outputs_", 1) != 1 or not isinstance(n_classes, int):
        return None
    feature, threshold, left, right, value, roots, offset = [], [], [], [], [], [], 0
    for tree in (e.tree_ for e in est.estimators_):
        lc = np.asarray(tree.children_left, dtype=np.int64)
        is_leaf = lc == -1
        own = np.arange(lc.size) + offset
        roots.append(offset)
        feature.append(np.where(is_leaf, 0, tree.feature))
        threshold.append(np.where(is_leaf, 0.0, tree.threshold))
        left.append(np.where(is_leaf, own, lc + offset))
        right.append(np.where(is_leaf, own, np.asarray(tree.children_right) + offset))
        # DecisionTreeClassifier.predict_proba: the leaf's values over their sum (0 sum: 1).
        leaf = np.asarray(tree.value[:, 0, :n_classes], dtype=np.float64)
        total = leaf.sum(axis=1)[:, None]
        total[total == 0.0] = 1.0
        value.append(leaf / total)
        offset += lc.size
    if not roots:
        return None
    return {
        "kind": np.array("random_forest"),
        "n_classes": np.array(n_classes),
        "n_features": np.array(int(est.n_features_in_)),
        "tree_roots": np.asarray(roots, dtype=np.int64),
        "node_feature": np.concatenate(feature).astype(np.int64),
        "node_threshold": np.concatenate(threshold).astype(np.float64),
        "node_left": np.concatenate(left).astype(np.int64),
        "node_right": np.concatenate(right).astype(np.int64),
        "node_value": np.concatenate(value),
    }


def _export_logreg(est: Any) -> Arrays | None:
    coef = np.asarray(est.coef_, dtype=np.float64)
    n_classes = len(est.classes_)
    if coef.shape[0] != (1 if n_classes == 2 else n_classes):
        return None
    return {
        "kind": np.array("logreg"),
        "n_classes": np.array(n_classes),
        "n_features": np.array(coef.shape[1]),
        "coef": coef,
        "intercept": np.asarray(est.intercept_, dtype=np.float64).reshape(-1),
    }


def _export_svm(cal: Any) -> Arrays | None:
    if cal.method != "temperature" or len(cal.calibrated_classifiers_) != 1:
        return None
    inner = cal.calibrated_classifiers_[0]
    svc = inner.estimator
    if not _is(svc, "sklearn.svm", "SVC") or svc.kernel not in SVM_KERNELS or svc._sparse:
        return None
    n_classes = len(svc.classes_)
    if n_classes > 2 and svc.decision_function_shape != "ovr":
        return None
    if len(inner.classes) != n_classes or len(cal.classes_) != n_classes:
        return None
    return {
        "kind": np.array("svm_temperature"),
        "n_classes": np.array(n_classes),
        "n_features": np.array(svc.support_vectors_.shape[1]),
        "support_vectors": np.asarray(svc.support_vectors_, dtype=np.float64),
        "n_support": np.asarray(svc._n_support, dtype=np.int64),
        # The private arrays are what libsvm evaluates (the public ones are sign-flipped
        # for two classes).
        "dual_coef": np.asarray(svc._dual_coef_, dtype=np.float64),
        "intercept": np.asarray(svc._intercept_, dtype=np.float64),
        "kernel": np.array(svc.kernel),
        "gamma": np.array(float(svc._gamma)),
        "coef0": np.array(float(svc.coef0)),
        "degree": np.array(int(svc.degree)),
        "beta": np.array(float(inner.calibrators[0].beta_)),
    }


def _export_xgboost(est: Any) -> Arrays | None:
    if est.missing is not None and not np.isnan(est.missing):
        return None
    model = json.loads(bytes(est.get_booster().save_raw("json")))["learner"]
    params = model["learner_model_param"]
    booster = model["gradient_booster"]
    if (
        model["objective"]["name"] != "multi:softprob"
        or booster.get("name") != "gbtree"
        or int(params.get("num_target", 1)) != 1
    ):
        return None
    n_classes = int(params["num_class"])
    base = np.atleast_1d(np.asarray(_parse_floats(params["base_score"]), dtype=np.float32))
    if base.size == 1:
        base = np.repeat(base, n_classes)
    if n_classes != len(est.classes_) or base.size != n_classes:
        return None
    trees_json = booster["model"]["trees"]
    indptr = booster["model"]["iteration_indptr"]
    try:
        begin, end = est._get_iteration_range(None)
    except AttributeError:
        begin, end = 0, 0
    end = end or len(indptr) - 1
    chosen = range(indptr[begin], indptr[end])
    feature, threshold, left, right, default_left, leaf = [], [], [], [], [], []
    roots, offset = [], 0
    for t in chosen:
        tree = trees_json[t]
        if int(tree["tree_param"].get("size_leaf_vector", "1")) > 1 or any(tree["split_type"]):
            return None
        lc = np.asarray(tree["left_children"], dtype=np.int64)
        rc = np.asarray(tree["right_children"], dtype=np.int64)
        is_leaf = lc == -1
        own = np.arange(lc.size) + offset
        cond = np.asarray(tree["split_conditions"], dtype=np.float32)
        roots.append(offset)
        feature.append(np.where(is_leaf, 0, tree["split_indices"]))
        threshold.append(np.where(is_leaf, np.float32(0), cond))
        # Leaves point at themselves, so a fixed number of steps reaches every leaf.
        left.append(np.where(is_leaf, own, lc + offset))
        right.append(np.where(is_leaf, own, rc + offset))
        default_left.append(np.asarray(tree["default_left"], dtype=bool))
        leaf.append(np.where(is_leaf, cond, np.float32(0)))
        offset += lc.size
    if not roots:
        return None
    return {
        "kind": np.array("xgboost_softprob"),
        "n_classes": np.array(n_classes),
        "n_features": np.array(int(params["num_feature"])),
        "base_margin": base,
        "tree_roots": np.asarray(roots, dtype=np.int32),
        "tree_class": np.asarray(
            [booster["model"]["tree_info"][t] for t in chosen], dtype=np.int32
        ),
        "node_feature": np.concatenate(feature).astype(np.int32),
        "node_threshold": np.concatenate(threshold).astype(np.float32),
        "node_left": np.concatenate(left).astype(np.int32),
        "node_right": np.concatenate(right).astype(np.int32),
        "node_default_left": np.concatenate(default_left),
        "node_leaf_value": np.concatenate(leaf).astype(np.float32),
    }


def _parse_floats(text: str) -> list[float] | float:
    """XGBoost 3 writes ``base_score`` as ``"[0E0,...]"`` (one per class); older ones a scalar."""
    text = text.strip()
    if text.startswith("["):
        return [float(v) for v in text.strip("[]").split(",") if v.strip()]
    return float(text)


def _agrees(pipeline: Any, predictor: PortablePredictor) -> bool:
    """Portable and library probabilities agree on seeded probe rows around the training data."""
    rng = np.random.default_rng(0)
    n = predictor.n_features
    mean = predictor.arrays.get("scaler_mean", np.zeros(n))
    scale = predictor.arrays.get("scaler_scale", np.ones(n))
    probe = mean + scale * rng.normal(0.0, 1.5, size=(32, n))
    probe = np.vstack([probe, mean, np.zeros(n)])
    expected = np.asarray(pipeline.predict_proba(probe), dtype=np.float64)
    got = predictor.predict_proba(probe)
    tol = 1e-6 if predictor.kind == "xgboost_softprob" else 1e-9
    if got.shape == expected.shape and np.abs(got - expected).max() <= tol:
        return True
    warnings.warn(
        f"portable {predictor.kind} model disagrees with the library "
        f"(max {np.abs(got - expected).max() if got.shape == expected.shape else 'shape'}); "
        "keeping pipeline.joblib only",
        RuntimeWarning,
        stacklevel=4,
    )
    return False


# --------------------------------------------------------------------------- predictor

_REQUIRED = {
    "logreg": ("coef", "intercept"),
    "svm_temperature": (
        "support_vectors",
        "n_support",
        "dual_coef",
        "intercept",
        "kernel",
        "gamma",
        "coef0",
        "degree",
        "beta",
    ),
    "knn": ("fit_X", "fit_y", "n_neighbors", "weights"),
    "random_forest": (
        "tree_roots",
        "node_feature",
        "node_threshold",
        "node_left",
        "node_right",
        "node_value",
    ),
    "xgboost_softprob": (
        "base_margin",
        "tree_roots",
        "tree_class",
        "node_feature",
        "node_threshold",
        "node_left",
        "node_right",
        "node_default_left",
        "node_leaf_value",
    ),
}


class PortablePredictor:
    """``predict_proba`` of an exported pipeline; ``classes`` (optional) are the model's labels.

    Invalid or inconsistent arrays raise ValueError at construction, not at prediction.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        self.arrays: Arrays = {k: np.asarray(v) for k, v in arrays.items()}
        a = self.arrays
        for key in ("format", "kind", "n_classes", "n_features"):
            if key not in a:
                raise ValueError(f"missing {key!r}")
        if int(a["format"]) > FORMAT:
            raise ValueError(f"format {int(a['format'])} is newer than this genrelab ({FORMAT})")
        self.kind = str(a["kind"])
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")
        missing = [k for k in _REQUIRED[self.kind] if k not in a]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        self.n_classes = int(a["n_classes"])
        self.n_features = int(a["n_features"])
        self.classes: np.ndarray | None = a.get("classes")
        if self.classes is not None and len(self.classes) != self.n_classes:
            raise ValueError(f"{len(self.classes)} classes for {self.n_classes} columns")
        if ("scaler_mean" in a) != ("scaler_scale" in a):
            raise ValueError("scaler_mean and scaler_scale come together")
        for key in ("scaler_mean", "scaler_scale"):
            if key in a and a[key].shape != (self.n_features,):
                raise ValueError(f"{key} has shape {a[key].shape}, not ({self.n_features},)")
        getattr(self, f"_prepare_{self.kind}")()

    @property
    def classes_(self) -> np.ndarray | None:
        """scikit-learn's name for :attr:`classes`, so a predictor stands in for an estimator."""
        return self.classes

    # -- preparation: derived arrays and shape checks, once per load

    def _prepare_logreg(self) -> None:
        a, k = self.arrays, self.n_classes
        rows = 1 if k == 2 else k
        if a["coef"].shape != (rows, self.n_features) or a["intercept"].shape != (rows,):
            raise ValueError("logreg coefficients do not match n_classes/n_features")
        self._coef_T = a["coef"].T

    def _prepare_svm_temperature(self) -> None:
        a, k = self.arrays, self.n_classes
        sv, n_support = a["support_vectors"], a["n_support"].astype(np.int64)
        n_sv, n_pairs = sv.shape[0], k * (k - 1) // 2
        if (
            sv.ndim != 2
            or sv.shape[1] != self.n_features
            or n_support.shape != (k,)
            or n_support.sum() != n_sv
            or a["dual_coef"].shape != (k - 1, n_sv)
            or a["intercept"].shape != (n_pairs,)
            or str(a["kernel"]) not in SVM_KERNELS
        ):
            raise ValueError("svm arrays do not match n_classes/n_features")
        # libsvm's one-vs-one sums as one matrix: pair (i, j) weighs class i's support vectors
        # by dual_coef[j - 1] and class j's by dual_coef[i] (zeros elsewhere add nothing).
        start = np.concatenate([[0], np.cumsum(n_support)])
        weights = np.zeros((n_sv, n_pairs))
        dual, p = a["dual_coef"], 0
        for i in range(k):
            for j in range(i + 1, k):
                si, sj = slice(start[i], start[i + 1]), slice(start[j], start[j + 1])
                weights[si, p] = dual[j - 1, si]
                weights[sj, p] = dual[i, sj]
                p += 1
        self._svm_weights = weights
        self._sv_sq = np.einsum("ij,ij->i", sv, sv)

    def _prepare_xgboost_softprob(self) -> None:
        a, k = self.arrays, self.n_classes
        n_nodes = a["node_feature"].shape[0]
        node_keys = [key for key in _REQUIRED["xgboost_softprob"] if key.startswith("node_")]
        if any(a[key].shape != (n_nodes,) for key in node_keys):
            raise ValueError("xgboost node arrays differ in length")
        roots, classes = a["tree_roots"], a["tree_class"]
        for name, idx, bound in (
            ("tree_roots", roots, n_nodes),
            ("node_left", a["node_left"], n_nodes),
            ("node_right", a["node_right"], n_nodes),
            ("node_feature", a["node_feature"], self.n_features),
            ("tree_class", classes, k),
        ):
            if idx.size and (idx.min() < 0 or idx.max() >= bound):
                raise ValueError(f"{name} out of range")
        if roots.shape != classes.shape or roots.size == 0 or a["base_margin"].shape != (k,):
            raise ValueError("xgboost trees do not match n_classes")
        # Steps to the deepest leaf (leaves point at themselves). In a tree every node has one
        # parent, so no level holds, and no path passes, more than n_nodes nodes.
        left, right = a["node_left"].astype(np.int64), a["node_right"].astype(np.int64)
        frontier, depth = roots.astype(np.int64), 0
        while True:
            inner = frontier[left[frontier] != frontier]
            if inner.size == 0:
                break
            depth += 1
            frontier = np.concatenate([left[inner], right[inner]])
            if frontier.size > n_nodes or depth > n_nodes:
                raise ValueError("xgboost node links do not form trees")
        self._depth = depth
        counts = np.bincount(classes, minlength=k)
        if np.any(counts != counts[0]):
            raise ValueError("xgboost classes have different numbers of trees")
        # (class, tree) -> tree index, each class's trees in boosting order.
        self._tree_order = np.argsort(classes, kind="stable").reshape(k, counts[0])
        index = np.arange(n_nodes)
        inner = left != index
        self._node_left = left.astype(np.int32)
        self._node_right = right.astype(np.int32)
        self._node_feature = a["node_feature"].astype(np.int32)
        # XGBoost puts a right child right after its left sibling; then one step is
        # ``left + (go right)``. Leaves get a NaN split (never >=) and never send missing right.
        self._consecutive = bool(np.all(right[inner] == left[inner] + 1))
        self._split = np.where(inner, a["node_threshold"], np.float32(np.nan)).astype(np.float32)
        self._missing_right = inner & ~a["node_default_left"].astype(bool)
        self._roots = roots.astype(np.int32)

    def _prepare_knn(self) -> None:
        a = self.arrays
        n_fit = a["fit_X"].shape[0]
        k = int(a["n_neighbors"])
        if (
            a["fit_X"].ndim != 2
            or a["fit_X"].shape[1] != self.n_features
            or a["fit_y"].shape != (n_fit,)
            or not 1 <= k <= n_fit
            or str(a["weights"]) not in ("uniform", "distance")
            or (n_fit and (a["fit_y"].min() < 0 or a["fit_y"].max() >= self.n_classes))
        ):
            raise ValueError("knn arrays do not match n_classes/n_features")

    def _prepare_random_forest(self) -> None:
        a = self.arrays
        n_nodes = a["node_feature"].shape[0]
        for key in ("node_threshold", "node_left", "node_right"):
            if a[key].shape != (n_nodes,):
                raise ValueError("random forest node arrays differ in length")
        if a["node_value"].shape != (n_nodes, self.n_classes) or a["tree_roots"].size == 0:
            raise ValueError("random forest leaf values do not match n_classes")
        for name, bound in (
            ("tree_roots", n_nodes),
            ("node_left", n_nodes),
            ("node_right", n_nodes),
            ("node_feature", self.n_features),
        ):
            if a[name].min() < 0 or a[name].max() >= bound:
                raise ValueError(f"{name} out of range")
        left, right = a["node_left"], a["node_right"]
        frontier, depth = a["tree_roots"], 0
        while (inner := frontier[left[frontier] != frontier]).size:
            depth += 1
            frontier = np.concatenate([left[inner], right[inner]])
            if frontier.size > n_nodes or depth > n_nodes:
                raise ValueError("random forest node links do not form trees")
        self._depth = depth

    # -- prediction

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities, shape ``(n, n_classes)``; invalid input raises ValueError like sklearn."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"Expected a 2D array, got {X.ndim}D")
        if X.shape[1] != self.n_features:
            raise ValueError(
                f"X has {X.shape[1]} features, but the model expects {self.n_features}"
            )
        a = self.arrays
        # XGBoost itself takes infinities; StandardScaler and the sklearn models refuse them.
        checks_inf = self.kind != "xgboost_softprob" or "scaler_mean" in a
        if checks_inf and np.isinf(X).any():
            raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
        if self.kind != "xgboost_softprob" and np.isnan(X).any():
            raise ValueError("Input X contains NaN.")
        # StandardScaler.transform: centre, then divide (same operations, same rounding).
        if "scaler_mean" in a:
            X = X - a["scaler_mean"]
            X /= a["scaler_scale"]
        return getattr(self, f"_proba_{self.kind}")(X)

    def _proba_logreg(self, X: np.ndarray) -> np.ndarray:
        scores = X @ self._coef_T + self.arrays["intercept"]
        if self.n_classes == 2:  # scipy.special.expit, stacked as sklearn's _predict_proba_lr
            with np.errstate(over="ignore"):  # exp overflow gives 1 / inf = 0, as expit does
                p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1 - p, p], axis=1)
        return _softmax(scores)

    def _proba_svm_temperature(self, X: np.ndarray) -> np.ndarray:
        a, k = self.arrays, self.n_classes
        kernel, gamma = str(a["kernel"]), float(a["gamma"])
        dot = X @ a["support_vectors"].T
        if kernel == "rbf":
            sq = np.einsum("ij,ij->i", X, X)[:, None] + self._sv_sq - 2.0 * dot
            K = np.exp(-gamma * np.maximum(sq, 0.0))
        elif kernel == "linear":
            K = dot
        elif kernel == "poly":
            K = (gamma * dot + float(a["coef0"])) ** int(a["degree"])
        else:
            K = np.tanh(gamma * dot + float(a["coef0"]))
        dec = K @ self._svm_weights + a["intercept"]
        if k == 2:
            dec = -dec[:, 0]  # sklearn flips libsvm's sign for two classes
            logits = np.stack([-dec, dec], axis=1)
        else:
            logits = _ovr_decision(dec, k)
            # sklearn's _convert_to_logits: values that look like probabilities become logs.
            if np.all((logits >= 0) & (logits <= 1)) and np.all(
                np.abs(logits.sum(axis=1) - 1.0) <= 1e-8 + 1e-5
            ):
                logits = np.log(logits + 1e-12)
        proba = _softmax(float(a["beta"]) * logits)
        proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
        return proba

    def _proba_xgboost_softprob(self, X: np.ndarray) -> np.ndarray:
        a, k = self.arrays, self.n_classes
        X32 = X.astype(np.float32)  # XGBoost reads features as float32
        block = max(1, _TREE_BLOCK // self._roots.size)
        margins = np.empty((X.shape[0], k), dtype=np.float32)
        for lo in range(0, X.shape[0], block):
            leaves = self._leaf_values(X32[lo : lo + block])[:, self._tree_order]
            start = np.broadcast_to(a["base_margin"][:, None], (leaves.shape[0], k, 1))
            # From the base margin, tree after tree, in float32, as XGBoost accumulates.
            column = np.concatenate([start, leaves], axis=2)
            margins[lo : lo + block] = np.cumsum(column, axis=2, dtype=np.float32)[:, :, -1]
        # XGBoost's softmax: float32 exp(margin - max) (computed exactly, then rounded),
        # summed in double in class order, divided in float32.
        shifted = (margins - margins.max(axis=1, keepdims=True)).astype(np.float64)
        e = np.exp(shifted).astype(np.float32)
        total = e[:, 0].astype(np.float64)
        for c in range(1, k):
            total += e[:, c]
        return (e / total.astype(np.float32)[:, None]).astype(np.float64)

    def _proba_knn(self, X: np.ndarray) -> np.ndarray:
        """KNeighborsClassifier.predict_proba: vote of the k nearest, by 1/distance if asked."""
        a, k = self.arrays, int(self.arrays["n_neighbors"])
        proba = np.zeros((X.shape[0], self.n_classes))
        fit = a["fit_X"]
        block = max(1, _TREE_BLOCK // max(1, fit.size))  # bounds the differences' memory
        for lo in range(0, X.shape[0], block):
            x = X[lo : lo + block]
            # Exact differences, not |x|^2 + |y|^2 - 2xy, which cancels on far-off rows.
            sq = np.einsum("ijk,ijk->ij", d := x[:, None, :] - fit[None], d)
            nearest = np.argsort(sq, axis=1, kind="stable")[:, :k]
            dist = np.sqrt(np.take_along_axis(sq, nearest, axis=1))
            if str(a["weights"]) == "distance":
                with np.errstate(divide="ignore"):
                    weights = 1.0 / dist
                exact = np.isinf(weights)  # a training point itself: it alone decides
                rows = exact.any(axis=1)
                weights[rows] = exact[rows]
            else:
                weights = np.ones_like(dist)
            votes = proba[lo : lo + block]
            labels, row = a["fit_y"][nearest], np.arange(x.shape[0])
            for i in range(k):
                votes[row, labels[:, i]] += weights[:, i]
            votes /= votes.sum(axis=1)[:, None]
        return proba

    def _proba_random_forest(self, X: np.ndarray) -> np.ndarray:
        """RandomForestClassifier.predict_proba: the mean of each tree's leaf distribution.

        Trees read features as float32 and send ``x <= threshold`` left, as scikit-learn does.
        """
        a = self.arrays
        X32 = X.astype(np.float32).astype(np.float64)
        roots = a["tree_roots"]
        out = np.zeros((X.shape[0], self.n_classes))
        block = max(1, _TREE_BLOCK // roots.size)
        for lo in range(0, X.shape[0], block):
            x = X32[lo : lo + block]
            node = np.broadcast_to(roots, (x.shape[0], roots.size))
            rows = np.arange(x.shape[0])[:, None]
            for _ in range(self._depth):
                go_left = x[rows, a["node_feature"][node]] <= a["node_threshold"][node]
                node = np.where(go_left, a["node_left"][node], a["node_right"][node])
            for t in range(roots.size):  # summed tree after tree, as the forest accumulates
                out[lo : lo + block] += a["node_value"][node[:, t]]
        return out / roots.size

    def _leaf_values(self, X32: np.ndarray) -> np.ndarray:
        """Leaf value of every (row, tree): all rows step down all trees together.

        A split sends ``x`` left when ``x < split`` in float32, and a missing (NaN) ``x``
        the tree's default way, as XGBoost does.
        """
        flat = X32.ravel()
        # int32 indices: half the memory traffic of intp (a block is far below 2**31 entries).
        row_start = (np.arange(X32.shape[0], dtype=np.int32) * X32.shape[1])[:, None]
        if self._consecutive:
            has_nan = bool(np.isnan(X32).any())
            roots = self._roots
            # First level: every row is at the roots, so read whole columns.
            x = X32[:, self._node_feature[roots]]
            step = x >= self._split[roots]
            if has_nan:
                step |= np.isnan(x) & self._missing_right[roots]
            node = self._node_left[roots] + step
            for _ in range(self._depth - 1):
                x = np.take(flat, row_start + np.take(self._node_feature, node))
                step = x >= np.take(self._split, node)
                if has_nan:
                    step |= np.isnan(x) & np.take(self._missing_right, node)
                node = np.take(self._node_left, node) + step
        else:
            node = np.broadcast_to(self._roots, (X32.shape[0], self._roots.size))
            default_left, split = self.arrays["node_default_left"], self.arrays["node_threshold"]
            for _ in range(self._depth):
                x = np.take(flat, row_start + np.take(self._node_feature, node))
                go_left = np.where(np.isnan(x), default_left[node], x < split[node])
                node = np.where(go_left, self._node_left[node], self._node_right[node])
        return np.take(self.arrays["node_leaf_value"], node)

    # -- files

    def save(self, path: str | Path) -> None:
        """Write the arrays as an ``.npz`` that loads without pickle.

        Like ``np.savez``, but with fixed entry dates and order: saving the same model twice
        gives the same bytes, so re-exporting a bundle kept in git changes nothing.
        """
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
            for key in sorted(self.arrays):
                info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                with zf.open(info, "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, self.arrays[key], allow_pickle=False)

    @classmethod
    def load(cls, path: str | Path) -> PortablePredictor:
        """Read ``portable.npz``; anything unreadable or inconsistent is a clear ModelError."""
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
            return cls(arrays)
        except FileNotFoundError as err:
            raise ModelError(f"no portable model at {path}") from err
        except Exception as err:  # zip, header, dtype and shape errors all mean corrupt
            raise ModelError(
                f"{path} is not a valid portable model ({type(err).__name__}: {err}); delete it "
                "to use pipeline.joblib, or re-create it with tools/export_portable.py"
            ) from err


def _softmax(X: np.ndarray) -> np.ndarray:
    """sklearn.utils.extmath.softmax, operation for operation."""
    X = X - X.max(axis=1).reshape(-1, 1)
    np.exp(X, out=X)
    X /= X.sum(axis=1).reshape(-1, 1)
    return X


def _ovr_decision(dec: np.ndarray, k: int) -> np.ndarray:
    """sklearn's ``_ovr_decision_function(dec < 0, -dec, k)``: votes plus squashed confidences."""
    votes = np.zeros((dec.shape[0], k))
    confidence = np.zeros((dec.shape[0], k))
    p = 0
    for i in range(k):
        for j in range(i + 1, k):
            confidence[:, i] -= -dec[:, p]
            confidence[:, j] += -dec[:, p]
            negative = dec[:, p] < 0
            votes[:, i] += ~negative
            votes[:, j] += negative
            p += 1
    return votes + confidence / (3 * (np.abs(confidence) + 1))
