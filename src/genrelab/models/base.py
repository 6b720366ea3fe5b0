"""The estimator contract every genre model follows, and the registry of models by name.

Models follow scikit-learn's estimator idea: hyper-parameters are ``__init__`` keyword
arguments (so a card can record and rebuild them), ``fit`` learns, ``predict_proba`` returns
one column per entry of ``classes_``. ``save``/``load`` move the learnt state in and out of a
bundle's ``model/`` folder; the card (labels, front end, metrics) lives beside it.
"""

from __future__ import annotations

import importlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from genrelab.errors import ModelError


class GenreModel(ABC):
    """Base class: subclasses declare hyper-parameters as keyword arguments of ``__init__``."""

    #: Registry name, set by :func:`register_model`.
    name: ClassVar[str] = ""
    #: What ``fit``/``predict_proba`` take: a front-end kind such as ``"features"``.
    input_kind: ClassVar[str] = "features"

    classes_: np.ndarray

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as given to ``__init__`` (read back from same-named attributes)."""
        sig = inspect.signature(type(self).__init__)
        kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        return {
            p.name: getattr(self, p.name)
            for p in sig.parameters.values()
            if p.name != "self" and p.kind in kinds
        }

    @abstractmethod
    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        X_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
    ) -> GenreModel:
        """Learn from inputs ``X`` and string labels ``y``; validation data is optional."""

    @abstractmethod
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, shape ``(n, len(classes_))``."""

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the learnt state into ``directory`` (it exists and is empty)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> GenreModel:
        """Rebuild a fitted model from ``directory`` and its hyper-parameters."""


_REGISTRY: dict[str, type[GenreModel] | str] = {}


def register_model(name: str) -> Callable[[type[GenreModel]], type[GenreModel]]:
    """Class decorator adding a model to the registry under ``name``."""

    def deco(cls: type[GenreModel]) -> type[GenreModel]:
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def register_lazy(name: str, target: str) -> None:
    """Register ``"package.module:Class"`` without importing it (keeps torch out of start-up)."""
    _REGISTRY.setdefault(name, target)


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def model_class(name: str) -> type[GenreModel]:
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ModelError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        try:
            entry = getattr(importlib.import_module(module), attr)
        except ImportError as err:
            raise ModelError(
                f"model {name!r} needs an optional dependency ({err.name}); "
                "install it with: pip install 'genrelab[torch]'"
            ) from err
        _REGISTRY[name] = entry
    return entry


def create_model(name: str, **params: Any) -> GenreModel:
    """Instantiate a registered model, turning bad hyper-parameters into a clear ModelError."""
    cls = model_class(name)
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as err:
        accepted = ", ".join(p for p in inspect.signature(cls).parameters)
        raise ModelError(
            f"bad parameters for model {name!r} ({err}); accepted: {accepted}"
        ) from err
    return cls(**params)
