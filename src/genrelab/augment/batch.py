"""Batch augmentations on standardised model inputs: SpecAugment masks and mixup.

They run inside the training step (after standardisation, so a mask of zeros is the training
mean) and take the trainer's per-batch ``torch.Generator``, which keeps resumed runs exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genrelab.errors import GenrelabError


@dataclass
class SpecAugment:
    """Zero ``freq_masks`` bands of up to ``max_freq`` of the bins and ``time_masks`` spans of
    up to ``max_time`` of the frames (Park et al., 2019), each example with probability ``p``."""

    p: float = 1.0
    freq_masks: int = 2
    max_freq: float = 0.15
    time_masks: int = 2
    max_time: float = 0.1

    def check(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 2:
            raise GenrelabError("specaugment needs spectrogram inputs (bins, frames)")

    def __call__(
        self, x: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self.check(tuple(x.shape[1:]))
        x = x.clone()
        for i in range(x.shape[0]):
            if torch.rand(1, generator=generator).item() >= self.p:
                continue
            masks = ((0, self.freq_masks, self.max_freq), (1, self.time_masks, self.max_time))
            for axis, count, share in masks:
                size = x.shape[axis + 1]
                for _ in range(count):
                    width = _randint(int(share * size) + 1, generator)
                    x[i].narrow(axis, _randint(size - width + 1, generator), width).zero_()
        return x, targets


@dataclass
class Mixup:
    """Blend each example (and its target) with another of the batch, weight ~ Beta(alpha, alpha)
    (Zhang et al., 2018), for the whole batch with probability ``p``."""

    p: float = 1.0
    alpha: float = 0.2

    def __call__(
        self, x: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if torch.rand(1, generator=generator).item() >= self.p:
            return x, targets
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        lam = float(np.random.default_rng(seed).beta(self.alpha, self.alpha))
        perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
        return lam * x + (1 - lam) * x[perm], lam * targets + (1 - lam) * targets[perm]


def _randint(high: int, generator: torch.Generator) -> int:
    """A uniform integer in ``[0, high)``."""
    return int(torch.randint(0, max(1, high), (1,), generator=generator))


BATCH_AUGMENTATIONS = {"specaugment": SpecAugment, "mixup": Mixup}


class BatchChain:
    def __init__(self, steps: list[SpecAugment | Mixup]):
        self.steps = steps

    def check(self, input_shape: tuple[int, ...]) -> None:
        """Fail before training when an augmentation cannot handle the model's inputs."""
        for step in self.steps:
            if isinstance(step, SpecAugment):
                step.check(input_shape)

    def __call__(
        self, x: torch.Tensor, targets: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        for step in self.steps:
            x, targets = step(x, targets, generator)
        return x, targets
