"""Hyper-parameter search spaces, keyed by registered model name.

A space is a function of an Optuna-style trial returning the model's keyword arguments. A
model class may instead declare its own space as a ``search_space(trial)`` classmethod, which
wins over this registry. Spaces receive a :class:`Suggest` rather than the raw trial: it
answers ``suggest_*`` with the user's fixed value (``--param``) for a fixed name, so a fixed
name never appears among the tuned parameters (nor in the importance plot).

Neural models without their own entry get the shared training space (learning rate,
warm-up ratio, epochs, weight decay, batch size).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from genrelab.errors import ModelError

Space = Callable[["Suggest"], dict[str, Any]]

_SPACES: dict[str, Space] = {}


class Suggest:
    """An Optuna trial seen through the user's fixed parameters."""

    def __init__(self, trial: Any, fixed: dict[str, Any] | None = None):
        self.trial = trial
        self.fixed = dict(fixed or {})
        #: Names the space asked for, tuned or fixed.
        self.asked: set[str] = set()

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        if self._is_fixed(name):
            return self.fixed[name]
        return self.trial.suggest_float(name, low, high, step=step, log=log)

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        if self._is_fixed(name):
            return self.fixed[name]
        return self.trial.suggest_int(name, low, high, step=step, log=log)

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        if self._is_fixed(name):
            return self.fixed[name]
        return self.trial.suggest_categorical(name, list(choices))

    def value(self, name: str, default: Any) -> Any:
        """A fixed value or the default: for choices a space depends on but does not tune."""
        return self.fixed[name] if self._is_fixed(name) else default

    def _is_fixed(self, name: str) -> bool:
        self.asked.add(name)
        return name in self.fixed


def register_space(*names: str) -> Callable[[Space], Space]:
    """Decorator declaring ``fn`` as the search space of the named models."""

    def deco(fn: Space) -> Space:
        for name in names:
            _SPACES[name] = fn
        return fn

    return deco


def spaces() -> list[str]:
    """Model names with a search space in this registry."""
    return sorted(_SPACES)


def suggest_params(model: str, trial: Any, fixed: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``model`` drawn from its space, with ``fixed`` taking precedence."""
    from genrelab.models import model_class

    cls = model_class(model)
    suggest = Suggest(trial, fixed)
    own = getattr(cls, "search_space", None)
    if callable(own):
        drawn = own(suggest)
    elif model in _SPACES:
        drawn = _SPACES[model](suggest)
    elif "epochs" in inspect.signature(cls).parameters:
        drawn = training_space(suggest)
    else:
        raise ModelError(
            f"no search space for model {model!r}; spaces exist for {', '.join(spaces())}"
        )
    accepted = set(inspect.signature(cls).parameters)
    if unknown := sorted(set(suggest.fixed) - accepted - suggest.asked):
        raise ModelError(
            f"model {model!r} has no parameter {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(accepted))}"
        )
    return {**drawn, **{k: v for k, v in suggest.fixed.items() if k in accepted}}


# -- feature models ---------------------------------------------------------------------------


@register_space("knn")
def knn_space(t: Suggest) -> dict[str, Any]:
    return {
        "n_neighbors": t.suggest_int("n_neighbors", 1, 40, log=True),
        "weights": t.suggest_categorical("weights", ["uniform", "distance"]),
    }


@register_space("logreg")
def logreg_space(t: Suggest) -> dict[str, Any]:
    return {"C": t.suggest_float("C", 1e-3, 1e2, log=True)}


@register_space("svm")
def svm_space(t: Suggest) -> dict[str, Any]:
    return {
        "C": t.suggest_float("C", 0.1, 300.0, log=True),
        "gamma": t.suggest_float("gamma", 1e-4, 0.3, log=True),
    }


@register_space("random_forest")
def forest_space(t: Suggest) -> dict[str, Any]:
    return {
        "n_estimators": t.suggest_int("n_estimators", 100, 1000, step=100),
        "max_depth": t.suggest_int("max_depth", 3, 40, log=True),
    }


@register_space("xgboost")
def xgboost_space(t: Suggest) -> dict[str, Any]:
    return {
        "n_estimators": t.suggest_int("n_estimators", 100, 1000, step=50),
        "learning_rate": t.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "max_depth": t.suggest_int("max_depth", 2, 10),
        "subsample": t.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": t.suggest_float("colsample_bytree", 0.2, 1.0),
    }


@register_space("soft_vote")
def soft_vote_space(t: Suggest) -> dict[str, Any]:
    """The SVM's C and its weight against XGBoost (the default members)."""
    weight = t.suggest_float("svm_weight", 0.05, 0.95)
    members = [
        {"model": "svm", "params": {"C": t.suggest_float("svm_C", 0.1, 300.0, log=True)}},
        {"model": "xgboost", "params": {}},
    ]
    return {"members": members, "weights": [weight, 1.0 - weight]}


# -- neural models ----------------------------------------------------------------------------


def training_space(
    t: Suggest, lr: tuple[float, float] = (1e-4, 3e-3), epochs: tuple[int, int] = (5, 40)
) -> dict[str, Any]:
    """What every :class:`~genrelab.neural.base.TorchGenreModel` is trained with."""
    return {
        "lr": t.suggest_float("lr", *lr, log=True),
        "warmup_ratio": t.suggest_float("warmup_ratio", 0.0, 0.2),
        "epochs": t.suggest_int("epochs", *epochs),
        "weight_decay": t.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        "batch_size": t.suggest_categorical("batch_size", [16, 32, 64]),
    }


@register_space("mlp", "mlp_spec")
def mlp_space(t: Suggest) -> dict[str, Any]:
    width = t.suggest_categorical("width", [64, 128, 256, 512])
    return {
        **training_space(t),
        "hidden": (width, width // 2),
        "dropout": t.suggest_float("dropout", 0.0, 0.5),
    }


@register_space("cnn")
def cnn_space(t: Suggest) -> dict[str, Any]:
    base = t.suggest_categorical("base_channels", [8, 16, 32])
    return {
        **training_space(t),
        "channels": (base, 2 * base, 4 * base),
        "dense": t.suggest_categorical("dense", [32, 64, 128, 256]),
        "dropout": t.suggest_float("dropout", 0.1, 0.5),
    }


@register_space("resnet_cnn")
def resnet_space(t: Suggest) -> dict[str, Any]:
    base = t.suggest_categorical("base_channels", [8, 16, 32])
    return {
        **training_space(t),
        "channels": (base, 2 * base, 4 * base, 8 * base),
        "blocks_per_stage": t.suggest_int("blocks_per_stage", 1, 3),
        "dropout": t.suggest_float("dropout", 0.0, 0.5),
    }


@register_space("crnn")
def crnn_space(t: Suggest) -> dict[str, Any]:
    return {
        **training_space(t),
        "hidden": t.suggest_categorical("hidden", [32, 64, 128]),
        "dropout": t.suggest_float("dropout", 0.1, 0.5),
    }


@register_space("lstm", "gru")
def recurrent_space(t: Suggest) -> dict[str, Any]:
    return {
        **training_space(t),
        "hidden": t.suggest_categorical("hidden", [32, 64, 128]),
        "layers": t.suggest_int("layers", 1, 3),
        "dropout": t.suggest_float("dropout", 0.0, 0.5),
    }


@register_space("samplecnn")
def samplecnn_space(t: Suggest) -> dict[str, Any]:
    return {**training_space(t), "dropout": t.suggest_float("dropout", 0.1, 0.5)}


@register_space("wavenet")
def wavenet_space(t: Suggest) -> dict[str, Any]:
    return {
        **training_space(t),
        "channels": t.suggest_categorical("channels", [16, 32, 64]),
        "layers": t.suggest_int("layers", 6, 12),
        "dropout": t.suggest_float("dropout", 0.0, 0.5),
    }


def _backbone_space(t: Suggest, default_mode: str) -> dict[str, Any]:
    """Fine-tuning: small learning rates; adapter rank, alpha and first layer for LoRA/DoRA."""
    params = {
        **training_space(t, lr=(1e-5, 1e-3), epochs=(2, 15)),
        "hidden": t.suggest_categorical("hidden", [128, 256, 512]),
        "dropout": t.suggest_float("dropout", 0.0, 0.3),
    }
    if t.value("mode", default_mode) in ("lora", "dora"):
        params.update(
            adapter_rank=t.suggest_categorical("adapter_rank", [2, 4, 8, 16]),
            adapter_alpha=t.suggest_float("adapter_alpha", 1.0, 64.0, log=True),
            adapter_from_layer=t.suggest_int("adapter_from_layer", 0, 11),
        )
    return params


@register_space("hf")
def hf_space(t: Suggest) -> dict[str, Any]:
    return _backbone_space(t, "frozen")


@register_space("ast_dora")
def ast_dora_space(t: Suggest) -> dict[str, Any]:
    return _backbone_space(t, "dora")
