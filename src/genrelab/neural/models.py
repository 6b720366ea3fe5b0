"""The registered neural genre models: architecture hyper-parameters and their front end.

Training hyper-parameters (epochs, lr, schedule, ...) are inherited from
:class:`~genrelab.neural.base.TorchGenreModel`; each class here only adds its architecture.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

from torch import nn

from genrelab.models.base import register_model
from genrelab.neural import networks
from genrelab.neural.base import TorchGenreModel


@register_model("mlp")
class MLPModel(TorchGenreModel):
    """Feed-forward network on handcrafted feature vectors."""

    input_kind = "features"

    def __init__(self, hidden: Sequence[int] = (256, 128), dropout: float = 0.3, **training: Any):
        super().__init__(**training)
        self.hidden = tuple(hidden)
        self.dropout = dropout

    def build_network(self, n_classes: int) -> nn.Module:
        return networks.MLP(math.prod(self.input_shape_), self.hidden, self.dropout, n_classes)


@register_model("mlp_spec")
class SpectrogramMLPModel(MLPModel):
    """Feed-forward network on a flattened (small) mel spectrogram."""

    input_kind = "melspec"
    frontend_defaults: ClassVar[dict[str, Any]] = {"n_mels": 48, "hop": 1024}


@register_model("cnn")
class CNNModel(TorchGenreModel):
    """The 3-conv CNN of the reports: conv-ReLU-maxpool x3, dense, dropout, optional batch norm."""

    frontend_defaults: ClassVar[dict[str, Any]] = {"n_mels": 64, "n_fft": 2048, "hop": 512}

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 64),
        dense: int = 64,
        dropout: float = 0.3,
        batch_norm: bool = True,
        **training: Any,
    ):
        super().__init__(**training)
        self.channels = tuple(channels)
        self.dense = dense
        self.dropout = dropout
        self.batch_norm = batch_norm

    def build_network(self, n_classes: int) -> nn.Module:
        return networks.ConvNet(
            self.input_shape_, self.channels, self.dense, self.dropout, self.batch_norm, n_classes
        )


@register_model("resnet_cnn")
class ResNetCNNModel(TorchGenreModel):
    """A deeper residual CNN on mel spectrograms."""

    frontend_defaults: ClassVar[dict[str, Any]] = {"n_mels": 128, "n_fft": 2048, "hop": 512}

    def __init__(
        self,
        channels: Sequence[int] = (16, 32, 64, 128),
        blocks_per_stage: int = 2,
        dropout: float = 0.2,
        **training: Any,
    ):
        super().__init__(**training)
        self.channels = tuple(channels)
        self.blocks_per_stage = blocks_per_stage
        self.dropout = dropout

    def build_network(self, n_classes: int) -> nn.Module:
        return networks.ResNetCNN(self.channels, self.blocks_per_stage, self.dropout, n_classes)


@register_model("crnn")
class CRNNModel(TorchGenreModel):
    """Convolutions over the mel spectrogram, then a bidirectional GRU over time."""

    frontend_defaults: ClassVar[dict[str, Any]] = {"n_mels": 96, "n_fft": 2048, "hop": 512}

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 64),
        hidden: int = 64,
        dropout: float = 0.3,
        **training: Any,
    ):
        super().__init__(**training)
        self.channels = tuple(channels)
        self.hidden = hidden
        self.dropout = dropout

    def build_network(self, n_classes: int) -> nn.Module:
        return networks.CRNN(self.input_shape_, self.channels, self.hidden, self.dropout, n_classes)


class RecurrentModel(TorchGenreModel):
    """A recurrent network reading MFCC (or, with ``--frontend kind=melspec``, mel) frames."""

    input_kind = "mfcc"
    frontend_defaults: ClassVar[dict[str, Any]] = {"n_mfcc": 20}
    cell: ClassVar[str]

    def __init__(
        self,
        hidden: int = 64,
        layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.2,
        **training: Any,
    ):
        super().__init__(**training)
        self.hidden = hidden
        self.layers = layers
        self.bidirectional = bidirectional
        self.dropout = dropout

    def build_network(self, n_classes: int) -> nn.Module:
        return networks.RecurrentNet(
            self.cell,
            self.input_shape_[0],
            self.hidden,
            self.layers,
            self.bidirectional,
            self.dropout,
            n_classes,
        )


@register_model("lstm")
class LSTMModel(RecurrentModel):
    cell = "lstm"


@register_model("gru")
class GRUModel(RecurrentModel):
    cell = "gru"


@register_model("samplecnn")
class SampleCNNModel(TorchGenreModel):
    """SampleCNN on raw samples: one block per entry of ``channels`` (the first is stride 3)."""

    input_kind = "waveform"
    stats_axis = None

    def __init__(
        self,
        channels: Sequence[int] = (32, 32, 32, 64, 64, 64, 64, 64, 128, 128),
        dropout: float = 0.3,
        **training: Any,
    ):
        super().__init__(**training)
        self.channels = tuple(channels)
        self.dropout = dropout

    def build_network(self, n_classes: int) -> nn.Module:
        return networks.SampleCNN(self.channels, self.dropout, n_classes)


@register_model("wavenet")
class WaveNetModel(TorchGenreModel):
    """Dilated gated convolutions (WaveNet-style) on raw samples after a strided front conv."""

    input_kind = "waveform"
    stats_axis = None

    def __init__(
        self,
        channels: int = 32,
        stride: int = 16,
        layers: int = 10,
        stacks: int = 1,
        dropout: float = 0.2,
        **training: Any,
    ):
        super().__init__(**training)
        self.channels = channels
        self.stride = stride
        self.layers = layers
        self.stacks = stacks
        self.dropout = dropout

    def build_network(self, n_classes: int) -> nn.Module:
        return networks.WaveNetClassifier(
            self.channels, self.stride, self.layers, self.stacks, self.dropout, n_classes
        )
