"""PyTorch port of musicnn (Pons & Serra 2019), layer for layer as its TensorFlow ``models.py``.

Input: ``(batch, 187, 96)`` log-mel patches from :func:`genrelab.pretrained.musicnn_onnx.patches`.
Front end: batch norm over the whole input, then "timbral" convolutions (7 frames x 38 or 67
mel bands, valid in frequency, zero-padded 3 frames in time) and "temporal" ones (128, 64 or 32
frames x 1 band, TF 'same' padding: the odd extra zero goes after), each conv -> ReLU -> batch
norm -> max over frequency. Mid end: three 7-frame 1-D convolutions with residual connections,
densely concatenated with the front end (753 channels). Back end: max and mean over time,
interleaved per channel as TF flattens ``(753, 2)``, then batch norm, dense 200 + ReLU, batch
norm ("penultimate") and dense 50. Batch norms use TF's inference formula with eps = 1e-3.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genrelab.pretrained.musicnn_meta import N_MELS, OUTPUTS, check_model, resource_dir, tag_names

TF_BN_EPS = 1e-3


class _FrontBlock(nn.Module):
    """Conv2d over (time, mel) -> ReLU -> batch norm -> max over the mel axis."""

    def __init__(self, filters: int, time: int, mel: int, pad: tuple[int, int]) -> None:
        super().__init__()
        self.pad = pad
        self.conv = nn.Conv2d(1, filters, (time, mel))
        self.bn = nn.BatchNorm2d(filters, eps=TF_BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(F.relu(self.conv(F.pad(x, (0, 0, *self.pad)))))
        return x.amax(dim=3)


class _MidBlock(nn.Module):
    """7-frame Conv1d over all channels -> ReLU -> batch norm."""

    def __init__(self, channels: int, filters: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, filters, 7, padding=3)
        self.bn = nn.BatchNorm1d(filters, eps=TF_BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


def _same(kernel: int) -> tuple[int, int]:
    """TF 'same' padding at stride 1: the extra zero of an even kernel goes after."""
    return (kernel - 1) // 2, kernel // 2


class Musicnn(nn.Module):
    """musicnn with 64 mid-end filters and 200 back-end units (the MSD and MTT models)."""

    def __init__(self, n_tags: int = 50, mid_filters: int = 64, dense_units: int = 200) -> None:
        super().__init__()
        timbral, temporal = 204, 51  # int(1.6 * 128), int(1.6 * 32)
        self.input_bn = nn.BatchNorm2d(1, eps=TF_BN_EPS)
        self.timbral = nn.ModuleList(
            _FrontBlock(timbral, 7, int(share * N_MELS), (3, 3)) for share in (0.4, 0.7)
        )
        self.temporal = nn.ModuleList(_FrontBlock(temporal, k, 1, _same(k)) for k in (128, 64, 32))
        front = 2 * timbral + 3 * temporal
        self.mid = nn.ModuleList(
            _MidBlock(front if i == 0 else mid_filters, mid_filters) for i in range(3)
        )
        pooled = front + 3 * mid_filters
        self.pool_bn = nn.BatchNorm1d(2 * pooled, eps=TF_BN_EPS)
        self.dense = nn.Linear(2 * pooled, dense_units)
        self.dense_bn = nn.BatchNorm1d(dense_units, eps=TF_BN_EPS)
        self.out = nn.Linear(dense_units, n_tags)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer the original ``extractor`` returns, under its names and layouts.

        ``timbral``, ``temporal`` and ``cnn1``-``cnn3`` are ``(batch, time, channels)``;
        ``mean_pool``/``max_pool`` ``(batch, 753)``; ``penultimate`` ``(batch, 200)``;
        ``taggram`` ``(batch, n_tags)`` probabilities.
        """
        x = self.input_bn(x.unsqueeze(1))
        timbral = torch.cat([block(x) for block in self.timbral], dim=1)
        temporal = torch.cat([block(x) for block in self.temporal], dim=1)
        cnn1 = self.mid[0](torch.cat([timbral, temporal], dim=1))
        cnn2 = self.mid[1](cnn1) + cnn1
        cnn3 = self.mid[2](cnn2) + cnn2
        dense = torch.cat([timbral, temporal, cnn1, cnn2, cnn3], dim=1)
        max_pool, mean_pool = dense.amax(dim=2), dense.mean(dim=2)
        pooled = self.pool_bn(torch.stack([max_pool, mean_pool], dim=2).flatten(1))
        penultimate = self.dense_bn(F.relu(self.dense(pooled)))
        frames = dict(timbral=timbral, temporal=temporal, cnn1=cnn1, cnn2=cnn2, cnn3=cnn3)
        return {
            **{k: v.transpose(1, 2) for k, v in frames.items()},
            "mean_pool": mean_pool,
            "max_pool": max_pool,
            "penultimate": penultimate,
            "taggram": torch.sigmoid(self.out(penultimate)),
        }

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The ONNX graph's outputs, in the order of :data:`OUTPUTS`."""
        out = self.features(x)
        return tuple(out[k] for k in OUTPUTS)

    @torch.inference_mode()
    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """NumPy in, NumPy out: the same contract as ``OnnxMusicnn.predict``."""
        return {k: v.numpy() for k, v in zip(OUTPUTS, self(torch.from_numpy(x)), strict=True)}


def load_musicnn(model: str = "MSD_musicnn") -> Musicnn:
    """The converted ``model`` in eval mode, from the shipped ``<model>.npz`` state dict."""
    check_model(model)
    net = Musicnn(n_tags=len(tag_names(model)))
    with np.load(resource_dir() / f"{model}.npz") as weights:
        net.load_state_dict({k: torch.from_numpy(weights[k]) for k in weights.files})
    return net.eval()
