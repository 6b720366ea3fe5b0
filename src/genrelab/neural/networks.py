"""The networks behind the neural genre models, as plain ``torch.nn`` modules.

Spectrogram networks take ``(batch, bins, frames)``, waveform networks ``(batch, samples)``,
and all return logits. Sizes that depend on the input are found by running a dummy input
through the convolutional part once, so any front-end shape works.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def conv_output_size(body: nn.Module, input_shape: Sequence[int]) -> int:
    """Number of features ``body`` produces for one input of ``input_shape``."""
    was_training = body.training
    body.eval()
    with torch.no_grad():
        size = body(torch.zeros(1, *input_shape)).numel()
    body.train(was_training)
    return size


class MLP(nn.Module):
    """Flatten, then ``Linear-ReLU-Dropout`` per hidden layer (L2 comes from weight decay)."""

    def __init__(self, n_inputs: int, hidden: Sequence[int], dropout: float, n_classes: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        for width in hidden:
            layers += [nn.Linear(n_inputs, width), nn.ReLU(), nn.Dropout(dropout)]
            n_inputs = width
        layers.append(nn.Linear(n_inputs, n_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def conv_block(c_in: int, c_out: int, batch_norm: bool, pool: int | tuple[int, int]) -> nn.Module:
    """``Conv3x3 - [BatchNorm] - ReLU - MaxPool``, the unit of the report CNN and the CRNN."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers += [nn.ReLU(), nn.MaxPool2d(pool, ceil_mode=True)]
    return nn.Sequential(*layers)


class ConvNet(nn.Module):
    """The report CNN: conv-ReLU-maxpool blocks, then a dense layer with dropout."""

    def __init__(
        self,
        input_shape: Sequence[int],
        channels: Sequence[int],
        dense: int,
        dropout: float,
        batch_norm: bool,
        n_classes: int,
    ):
        super().__init__()
        blocks, c_in = [], 1
        for c_out in channels:
            blocks.append(conv_block(c_in, c_out, batch_norm, 2))
            c_in = c_out
        self.body = nn.Sequential(*blocks, nn.Flatten())
        n_features = conv_output_size(self.body, (1, *input_shape))
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(n_features, dense),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(dense, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.unsqueeze(1)))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNetCNN(nn.Module):
    """A small ResNet: stem, one strided residual stage per channel width, global pooling."""

    def __init__(
        self, channels: Sequence[int], blocks_per_stage: int, dropout: float, n_classes: int
    ):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(1, channels[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(),
        ]
        c_in = channels[0]
        for c_out in channels:
            for i in range(blocks_per_stage):
                layers.append(ResidualBlock(c_in, c_out, 2 if i == 0 else 1))
                c_in = c_out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_in, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.unsqueeze(1)))


class RecurrentNet(nn.Module):
    """LSTM or GRU over frames; the outputs are averaged over time before the classifier."""

    def __init__(
        self,
        cell: str,
        n_inputs: int,
        hidden: int,
        layers: int,
        bidirectional: bool,
        dropout: float,
        n_classes: int,
    ):
        super().__init__()
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(
            n_inputs,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(hidden * (2 if bidirectional else 1), n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, bins, frames)``; frames are the time steps."""
        outputs, _ = self.rnn(x.transpose(1, 2))
        return self.head(outputs.mean(dim=1))


class CRNN(nn.Module):
    """Convolutions pool frequency (and some time), then a bidirectional GRU reads the frames."""

    def __init__(
        self,
        input_shape: Sequence[int],
        channels: Sequence[int],
        hidden: int,
        dropout: float,
        n_classes: int,
    ):
        super().__init__()
        blocks, c_in = [], 1
        for i, c_out in enumerate(channels):
            blocks.append(conv_block(c_in, c_out, True, (2, 2) if i < 2 else (2, 1)))
            c_in = c_out
        self.conv = nn.Sequential(*blocks)
        with torch.no_grad():
            _, c, f, _ = self.conv(torch.zeros(1, 1, *input_shape)).shape
        self.rnn = RecurrentNet("gru", c * f, hidden, 1, True, dropout, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.conv(x.unsqueeze(1))
        return self.rnn(z.flatten(1, 2))


class SampleCNN(nn.Module):
    """SampleCNN (Lee et al., 2017): a stride-3 conv, then 3-tap conv + max-pool(3) blocks."""

    def __init__(self, channels: Sequence[int], dropout: float, n_classes: int):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv1d(1, channels[0], 3, stride=3, bias=False),
            nn.BatchNorm1d(channels[0]),
            nn.ReLU(),
        ]
        c_in = channels[0]
        for c_out in channels[1:]:
            layers += [
                nn.Conv1d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm1d(c_out),
                nn.ReLU(),
                nn.MaxPool1d(3, ceil_mode=True),
            ]
            c_in = c_out
        self.body = nn.Sequential(*layers, nn.AdaptiveMaxPool1d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_in, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x.unsqueeze(1)))


class GatedResidual(nn.Module):
    """WaveNet's gated dilated convolution with residual and skip outputs."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.filter = nn.Conv1d(channels, channels, 2, dilation=dilation, padding=dilation)
        self.gate = nn.Conv1d(channels, channels, 2, dilation=dilation, padding=dilation)
        self.residual = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[-1]
        z = torch.tanh(self.filter(x)[..., :n]) * torch.sigmoid(self.gate(x)[..., :n])
        return x + self.residual(z), self.skip(z)


class WaveNetClassifier(nn.Module):
    """A strided front conv, stacks of dilated gated blocks, summed skips, global pooling."""

    def __init__(
        self, channels: int, stride: int, layers: int, stacks: int, dropout: float, n_classes: int
    ):
        super().__init__()
        self.front = nn.Conv1d(1, channels, 2 * stride, stride=stride, padding=stride // 2)
        self.blocks = nn.ModuleList(
            GatedResidual(channels, 2**i) for _ in range(stacks) for i in range(layers)
        )
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.Conv1d(channels, channels, 1),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(channels, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.front(x.unsqueeze(1))
        skips = torch.zeros_like(x)
        for block in self.blocks:
            x, skip = block(x)
            skips = skips + skip
        return self.head(skips)
