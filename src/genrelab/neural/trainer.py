"""The training loop shared by every neural model, with exact resume after a crash.

A checkpoint (written atomically: temporary file, then ``os.replace``) holds the weights, the
optimiser, the schedule, the gradient scaler, the Python/numpy/torch random states, the epoch
and batch reached, the running epoch sums, the history and the best weights so far. Batches
are a pure function of ``(seed, epoch, index)`` (see :mod:`genrelab.neural.data`) and the
torch, numpy and Python generators are reseeded per batch, so a run killed mid-epoch and
resumed from its last checkpoint ends with the same weights and metrics as one that never
stopped. A model with an untouched pretrained part (``owned(key)`` false, e.g. a frozen Hugging
Face backbone) keeps it out of checkpoints.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console

from genrelab.atomic import atomic_path
from genrelab.errors import ModelError
from genrelab.neural.data import BatchSource, ValidationSet

if TYPE_CHECKING:  # the model calls the trainer (TorchGenreModel.fit), not the other way
    from genrelab.neural.base import TorchGenreModel

CHECKPOINT = "last.pt"

#: (standardised inputs, soft targets, generator) -> augmented (inputs, targets).
BatchAugment = Callable[
    [torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, torch.Tensor]
]


def lr_factor(schedule: str, step: int, total: int, warmup: int) -> float:
    """Linear warm-up, then cosine decay to zero, x0.1 steps at 50 % and 75 %, or constant."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    if schedule == "step":
        return 0.1 ** ((progress >= 0.5) + (progress >= 0.75))
    return 1.0


def batch_seed(seed: int, epoch: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, index, 1]).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and Python's global generators (backbones draw from all three, e.g.
    HuBERT's time masks from numpy's), so a batch's randomness does not depend on the past."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def class_weight_vector(labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Inverse class frequency, scaled so a balanced set gets weight 1 everywhere."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = len(labels) / (n_classes * np.maximum(counts, 1))
    return torch.tensor(weights, dtype=torch.float32)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch generator states as tensors and plain values (weights_only-safe)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_atomic(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


@contextmanager
def deterministic_algorithms(enabled: bool) -> Iterator[None]:
    """Deterministic kernels for the duration of a fit (on CPU they cost next to nothing)."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)


@dataclass
class TrainingState:
    """Where training stands: everything besides tensors that a checkpoint must restore."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_score: float = -math.inf
    bad_epochs: int = 0
    stopped: bool = False


class Trainer:
    """Fit a :class:`TorchGenreModel` on a batch source, validating once per epoch.

    ``checkpoint_dir`` enables checkpoints at every epoch end and, with ``checkpoint_every``,
    every that many optimiser steps; ``resume`` continues from the one found there.
    """

    def __init__(
        self,
        model: TorchGenreModel,
        *,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        checkpoint_every: int = 0,
        resume: bool = False,
        augment: BatchAugment | None = None,
        workers: int = 0,
        progress: bool = True,
        console: Console | None = None,
    ):
        self.model = model
        self.checkpoint = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir else None
        self.checkpoint_every = checkpoint_every
        self.resume = resume
        self.augment = augment
        self.workers = workers
        self.console = console or Console(stderr=True)
        self.show_progress = progress
        self.best_state: dict[str, torch.Tensor] | None = None

    # -- set-up ------------------------------------------------------------------------------

    def _optimisation(self, n_batches: int) -> None:
        m = self.model
        self.device = m.torch_device
        self.optimizer = torch.optim.AdamW(
            list(m.trainable_parameters()), lr=m.lr, weight_decay=m.weight_decay
        )
        self.steps_per_epoch = math.ceil(n_batches / m.grad_accum)
        total = m.epochs * self.steps_per_epoch
        warmup = round(m.warmup_ratio * total)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(m.schedule, step, total, warmup)
        )
        cuda = self.device.type == "cuda" and m.mixed_precision
        bf16 = cuda and torch.cuda.is_bf16_supported()
        self.amp_dtype = torch.bfloat16 if bf16 else torch.float16
        self.autocast = cuda
        self.scaler = torch.amp.GradScaler("cuda", enabled=cuda and not bf16)

    def _state(self, progress: TrainingState, n_batches: int) -> dict[str, Any]:
        return {
            "progress": vars(progress),
            "n_batches": n_batches,
            "params": self.model.get_params(),
            "classes": list(map(str, self.model.classes_)),
            "model": trained_state(self.model),
            "best": self.best_state,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
        }

    def _save(self, progress: TrainingState, n_batches: int) -> None:
        if self.checkpoint is not None:
            save_atomic(self._state(progress, n_batches), self.checkpoint)

    def _restore(self, n_batches: int) -> TrainingState:
        if not (self.resume and self.checkpoint is not None and self.checkpoint.is_file()):
            return TrainingState()
        state = torch.load(self.checkpoint, map_location=self.device, weights_only=True)
        same = (
            state["n_batches"] == n_batches
            and _settings(state["params"]) == _settings(self.model.get_params())
            and state["classes"] == list(map(str, self.model.classes_))
        )
        if not same:
            raise ModelError(
                f"{self.checkpoint} was written with other settings or data; "
                "rerun them as before, or start afresh without --resume"
            )
        load_trained_state(self.model, state["model"])
        self.best_state = state["best"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        return TrainingState(**state["progress"])

    # -- loop --------------------------------------------------------------------------------

    def fit(self, train: BatchSource, valid: ValidationSet | None = None) -> list[dict[str, float]]:
        """Train for the model's epochs (or until early stopping); returns the history."""
        m = self.model
        n_batches = len(train)
        self._optimisation(n_batches)
        weights = (
            class_weight_vector(train.labels, len(m.classes_)).to(self.device)
            if m.class_weights
            else None
        )
        progress = self._restore(n_batches)
        cpu = self.device.type == "cpu"
        with deterministic_algorithms(cpu), self._bar() as bar:
            while progress.epoch < m.epochs and not progress.stopped:
                self._train_epoch(train, progress, n_batches, weights, bar)
                self._end_epoch(progress, valid, bar)
                self._save(progress, n_batches)
        if self.best_state is not None:
            load_trained_state(m, self.best_state)
        m.module_.eval()
        m.history_ = progress.history
        return progress.history

    def _train_epoch(
        self,
        train: BatchSource,
        progress: TrainingState,
        n_batches: int,
        weights: torch.Tensor | None,
        bar: Any,
    ) -> None:
        m = self.model
        m.module_.train()
        task = bar.add_task(f"epoch {progress.epoch + 1}/{m.epochs}", total=n_batches)
        bar.update(task, completed=progress.batch)
        for index, (x, y) in self._batches(train, progress.epoch, progress.batch, n_batches):
            seed_everything(batch_seed(m.seed, progress.epoch, index))
            loss, correct = self._forward(x, y, weights, progress.epoch, index)
            (loss / m.grad_accum).backward()
            progress.loss_sum += float(loss.detach()) * len(y)
            progress.correct += correct
            progress.seen += len(y)
            progress.batch = index + 1
            if progress.batch % m.grad_accum == 0 or progress.batch == n_batches:
                self._step()
                progress.step += 1
                if self.checkpoint_every and progress.step % self.checkpoint_every == 0:
                    self._save(progress, n_batches)
            bar.update(task, advance=1, description=self._describe(progress))
        bar.remove_task(task)

    def _batches(
        self, train: BatchSource, epoch: int, start: int, n_batches: int
    ) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
        indices = range(start, n_batches)
        if not self.workers:
            return ((i, train.batch(epoch, i)) for i in indices)
        loader = torch.utils.data.DataLoader(
            _EpochView(train, epoch), batch_size=None, sampler=indices, num_workers=self.workers
        )
        return zip(indices, ((x.numpy(), y.numpy()) for x, y in loader), strict=True)

    def _forward(
        self, x: np.ndarray, y: np.ndarray, weights: torch.Tensor | None, epoch: int, index: int
    ) -> tuple[torch.Tensor, int]:
        m = self.model
        inputs = torch.from_numpy(np.ascontiguousarray(m.preprocess(x))).to(self.device)
        labels = torch.from_numpy(y).to(self.device)
        targets = F.one_hot(labels, len(m.classes_)).float()
        with self._autocast():
            z = m.module_[0](inputs)
            if self.augment is not None:
                generator = torch.Generator().manual_seed(batch_seed(m.seed, epoch, index))
                z, targets = self.augment(z, targets, generator)
            logits = m.module_[1](z).float()
        loss = F.cross_entropy(logits, targets, weight=weights, label_smoothing=m.label_smoothing)
        correct = int((logits.argmax(1) == targets.argmax(1)).sum())
        return loss, correct

    def _step(self) -> None:
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()

    def _autocast(self):
        if self.autocast:
            return torch.autocast(device_type="cuda", dtype=self.amp_dtype)
        return nullcontext()

    def _end_epoch(self, progress: TrainingState, valid: ValidationSet | None, bar: Any) -> None:
        m = self.model
        row = {
            "epoch": progress.epoch + 1,
            "lr": self.scheduler.get_last_lr()[0],
            "train_loss": progress.loss_sum / max(1, progress.seen),
            "train_accuracy": progress.correct / max(1, progress.seen),
        }
        if valid is not None:
            row.update(self.validate(valid))
            score = -row["valid_loss"] if m.monitor == "loss" else row["valid_balanced_accuracy"]
            if score > progress.best_score:
                progress.best_score, progress.bad_epochs = score, 0
                self.best_state = {k: v.detach().clone() for k, v in trained_state(m).items()}
            else:
                progress.bad_epochs += 1
                progress.stopped = bool(m.patience) and progress.bad_epochs >= m.patience
        progress.history.append(row)
        if self.show_progress:
            bar.console.print(_summary(row, m.epochs), highlight=False)
        progress.epoch += 1
        progress.batch = progress.seen = progress.correct = 0
        progress.loss_sum = 0.0

    @torch.no_grad()
    def validate(self, valid: ValidationSet) -> dict[str, float]:
        """Window-level loss, and accuracy and balanced accuracy per track (mean probability)."""
        from sklearn.metrics import balanced_accuracy_score

        m = self.model
        m.module_.eval()
        logits = torch.cat(
            [
                m.logits(valid.X[i : i + m.batch_size]).float().cpu()
                for i in range(0, len(valid.X), m.batch_size)
            ]
        )
        loss = float(F.cross_entropy(logits, torch.from_numpy(valid.labels)))
        proba = valid.track_proba(torch.softmax(logits, 1).numpy())
        _, truth = valid.track_labels()
        predicted = proba.argmax(1)
        return {
            "valid_loss": loss,
            "valid_accuracy": float((predicted == truth).mean()),
            "valid_balanced_accuracy": float(balanced_accuracy_score(truth, predicted)),
        }

    def _describe(self, progress: TrainingState) -> str:
        loss = progress.loss_sum / max(1, progress.seen)
        return f"epoch {progress.epoch + 1}/{self.model.epochs} · loss {loss:.3f}"

    def _bar(self):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            disable=not self.show_progress,
        )


def trained_state(model: TorchGenreModel) -> dict[str, torch.Tensor]:
    """The state training can change: all of it, unless the model keeps a pretrained part
    untouched (``owned(key)``, e.g. a frozen Hugging Face backbone), which checkpoints skip."""
    owned = getattr(model, "owned", None)
    state = model.module_.state_dict()
    return state if owned is None else {k: v for k, v in state.items() if owned(k)}


def load_trained_state(model: TorchGenreModel, state: dict[str, torch.Tensor]) -> None:
    """Load what :func:`trained_state` kept; the untouched rest is already in place."""
    owned = getattr(model, "owned", None)
    missing, unexpected = model.module_.load_state_dict(state, strict=owned is None)
    if unexpected or (owned is not None and any(owned(k) for k in missing)):
        raise ModelError("a checkpoint does not fit this model; start afresh without --resume")


def _settings(params: dict[str, Any]) -> dict[str, Any]:
    """Hyper-parameters that must match for a resumed run to equal an uninterrupted one."""
    return {k: v for k, v in params.items() if k != "device"}


def _summary(row: dict[str, float], epochs: int) -> str:
    parts = [f"epoch {int(row['epoch'])}/{epochs}"]
    parts += [f"{k.replace('_', ' ')} {v:.4f}" for k, v in row.items() if k not in ("epoch", "lr")]
    return " · ".join(parts)


class _EpochView(torch.utils.data.Dataset):
    """One epoch of a batch source as a map-style dataset, for DataLoader workers."""

    def __init__(self, source: BatchSource, epoch: int):
        self.source, self.epoch = source, epoch

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.source.batch(self.epoch, index)
