"""The base class of every PyTorch genre model, and its contract for subclass authors.

A subclass supplies the network; the base owns everything else, so every neural family gets
the same training, checkpointing, resume, bundle format and inference:

* ``input_kind`` (class attribute): the front-end kind its inputs come from (``"melspec"``,
  ``"mfcc"``, ``"waveform"``, ``"features"``...); ``frontend_defaults`` holds the front-end
  parameters used when training on audio (the card records the ones actually used).
* ``__init__(self, <architecture params>, **training)``: architecture hyper-parameters are
  explicit keyword arguments stored under the same attribute names; everything else is passed
  to ``super().__init__(**training)``. The class signature shown to :func:`create_model` and
  recorded by :meth:`get_params` merges both, so ``--param epochs=5`` and ``--param width=32``
  work alike and an unknown name is a clear ``ModelError``.
* ``build_network(self, n_classes) -> torch.nn.Module``: a module mapping a float batch of
  model inputs (after :meth:`preprocess` and standardisation) to logits ``(batch, n_classes)``.
  ``self.input_shape_`` (one input's shape, without the batch axis) is set before it is
  called. When ``self.restoring`` is true the weights are about to be loaded from a bundle,
  so pretrained weights must not be fetched (build the architecture only).
* Optional hooks: ``preprocess(X)`` (numpy -> numpy, run on every batch in training and
  prediction, e.g. resizing or channel stacking), ``trainable_parameters()`` (to freeze a
  backbone), ``stats_axis`` (which input axis gets its own mean/std; ``None`` for a scalar),
  ``save_extra``/``load_extra`` (files beside the weights, e.g. a backbone's config).

Inputs are standardised by statistics fitted on the training data and kept as buffers of the
module, so they live in the bundle's weights and inference needs nothing else: ``module_`` is
``nn.Sequential(Standardize, network)``, and batch augmentations run between the two.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from genrelab.errors import ModelError
from genrelab.models import trust
from genrelab.models.base import GenreModel

META = "meta.json"

SCHEDULES = ("cosine", "step", "constant")
MONITORS = ("loss", "balanced_accuracy")

#: Inputs standardised at once when fitting statistics or predicting (bounds memory).
PREDICT_BATCH = 64


class Standardize(nn.Module):
    """``(x - mean) / std`` with statistics stored as buffers, i.e. inside the state dict."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class TorchGenreModel(GenreModel):
    """Base of the neural models: see the module docstring for what subclasses provide."""

    input_kind: ClassVar[str] = "melspec"
    frontend_defaults: ClassVar[dict[str, Any]] = {}
    stats_axis: ClassVar[int | None] = 1

    module_: nn.Module
    input_shape_: tuple[int, ...]
    history_: list[dict[str, float]]

    def __init__(
        self,
        *,
        epochs: int = 30,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        warmup_ratio: float = 0.05,
        schedule: str = "cosine",
        grad_accum: int = 1,
        patience: int = 0,
        monitor: str = "loss",
        class_weights: bool = False,
        label_smoothing: float = 0.0,
        standardize: bool = True,
        seed: int = 0,
        device: str = "auto",
        mixed_precision: bool = True,
    ):
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.schedule = schedule
        self.grad_accum = grad_accum
        self.patience = patience
        self.monitor = monitor
        self.class_weights = class_weights
        self.label_smoothing = label_smoothing
        self.standardize = standardize
        self.seed = seed
        self.device = device
        self.mixed_precision = mixed_precision
        self.restoring = False
        self.history_ = []
        if schedule not in SCHEDULES:
            raise ModelError(f"unknown schedule {schedule!r}; use one of {', '.join(SCHEDULES)}")
        if monitor not in MONITORS:
            raise ModelError(f"unknown monitor {monitor!r}; use one of {', '.join(MONITORS)}")
        if epochs < 1 or batch_size < 1 or grad_accum < 1:
            raise ModelError("epochs, batch_size and grad_accum must be at least 1")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give the class the merged signature of its own and the training hyper-parameters."""
        super().__init_subclass__(**kwargs)
        own = [
            p
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        ]
        names = {p.name for p in own}
        inherited = [
            p.replace(kind=p.KEYWORD_ONLY)
            for p in inspect.signature(TorchGenreModel.__init__).parameters.values()
            if p.name != "self" and p.name not in names
        ]
        cls.__signature__ = inspect.Signature(
            [p.replace(kind=p.KEYWORD_ONLY) for p in own] + inherited
        )

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in inspect.signature(type(self)).parameters}

    # -- subclass hooks ---------------------------------------------------------------------

    def build_network(self, n_classes: int) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must implement build_network")

    def preprocess(self, X: np.ndarray) -> np.ndarray:
        return X

    def trainable_parameters(self) -> Iterable[nn.Parameter]:
        return (p for p in self.module_.parameters() if p.requires_grad)

    def save_extra(self, directory: Path) -> None:
        """Write files the architecture needs besides weights (none by default)."""

    def load_extra(self, directory: Path) -> None:
        """Read what :meth:`save_extra` wrote, before :meth:`build_network` is called."""

    # -- set-up ------------------------------------------------------------------------------

    @property
    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def setup(self, classes: Iterable[str], sample: np.ndarray) -> None:
        """Build the network for ``classes`` and fit input statistics on ``sample`` inputs."""
        self.classes_ = np.asarray(sorted(map(str, classes)))
        sample = self.preprocess(np.asarray(sample, dtype=np.float32))
        self._build(tuple(sample.shape[1:]))
        if self.standardize:
            mean, std = input_statistics(sample, self.stats_axis)
            norm = self.module_[0]
            norm.mean.copy_(torch.from_numpy(mean))
            norm.std.copy_(torch.from_numpy(std))

    def _build(self, input_shape: tuple[int, ...]) -> None:
        torch.manual_seed(self.seed)
        self.input_shape_ = input_shape
        stats_shape = [1] * len(input_shape)
        if self.stats_axis is not None:
            stats_shape[self.stats_axis - 1] = input_shape[self.stats_axis - 1]
        self.module_ = nn.Sequential(
            Standardize(tuple(stats_shape)), self.build_network(len(self.classes_))
        ).to(self.torch_device)

    def encode_labels(self, y: Iterable[str]) -> np.ndarray:
        """Class indices of string labels; an unknown label is a ModelError."""
        index = {c: i for i, c in enumerate(self.classes_)}
        try:
            return np.asarray([index[str(v)] for v in y], dtype=np.int64)
        except KeyError as err:
            raise ModelError(f"label {err.args[0]!r} is not one of {list(self.classes_)}") from err

    # -- estimator API -----------------------------------------------------------------------

    def fit(self, X, y, *, X_valid=None, y_valid=None) -> TorchGenreModel:
        """Train on in-memory inputs (one row per window), validating on ``X_valid`` if given."""
        from genrelab.neural.data import ArrayBatches, ValidationSet
        from genrelab.neural.trainer import Trainer

        X = np.asarray(X, dtype=np.float32)
        self.setup(set(map(str, y)), X)
        train = ArrayBatches(X, self.encode_labels(y), self.batch_size, self.seed)
        valid = None
        if X_valid is not None and y_valid is not None:
            valid = ValidationSet(np.asarray(X_valid, np.float32), self.encode_labels(y_valid))
        Trainer(self, progress=False).fit(train, valid)
        return self

    def logits(self, X: np.ndarray) -> torch.Tensor:
        """Logits of a batch in eval mode, on the model's device."""
        x = torch.from_numpy(np.ascontiguousarray(self.preprocess(np.asarray(X, np.float32))))
        return self.module_(x.to(self.torch_device))

    @torch.no_grad()
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        self.module_.eval()
        X = np.asarray(X, dtype=np.float32)
        rows = [
            torch.softmax(self.logits(X[i : i + PREDICT_BATCH]).float(), dim=1).cpu().numpy()
            for i in range(0, len(X), PREDICT_BATCH)
        ]
        if not rows:
            return np.zeros((0, len(self.classes_)))
        return np.concatenate(rows).astype(np.float64)

    def save(self, directory: Path) -> None:
        self.save_extra(directory)
        state = {k: v.detach().cpu() for k, v in self.module_.state_dict().items()}
        trust.save_torch_state(state, directory)
        meta = {"classes": list(map(str, self.classes_)), "input_shape": list(self.input_shape_)}
        (directory / META).write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path, params: dict[str, Any]) -> TorchGenreModel:
        model = cls(**params)
        meta = json.loads((directory / META).read_text())
        model.classes_ = np.asarray(meta["classes"])
        model.load_extra(directory)
        model.restoring = True
        try:
            model._build(tuple(meta["input_shape"]))
        finally:
            model.restoring = False
        state = trust.load_torch_state(directory, model.torch_device)
        model.module_.load_state_dict(state)
        model.module_.eval()
        return model


def input_statistics(X: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of ``X`` over every axis but ``axis`` (shaped to broadcast over one input)."""
    reduce = tuple(a for a in range(X.ndim) if a != axis)
    mean = X.mean(axis=reduce, keepdims=True, dtype=np.float64)[0]
    std = X.std(axis=reduce, keepdims=True, dtype=np.float64)[0]
    return mean.astype(np.float32), np.maximum(std, 1e-5).astype(np.float32)
