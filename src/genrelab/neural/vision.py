"""ImageNet-style backbones from ``transformers`` reading the mel spectrogram as an image.

Offline, a backbone starts from random weights with a one-channel stem and the configuration
given by ``config`` (else ResNet-50, ConvNeXt-T, EfficientNet-B0, ViT-B/16). With
``pretrained="microsoft/resnet-50"`` (needs a network, or a local folder) the ImageNet weights
are loaded with a new classifier head, and the one spectrogram channel is repeated over the
three colour channels the stem expects. The backbone's configuration is saved in the bundle,
so loading a bundle never downloads anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from genrelab.errors import ModelError
from genrelab.models.base import register_model
from genrelab.neural.base import TorchGenreModel

BACKBONE_CONFIG = "backbone.json"


class SpectrogramImage(nn.Module):
    """Add the channel axis (repeated for RGB stems), resize if needed, return the logits."""

    def __init__(self, backbone: nn.Module, size: int | None):
        super().__init__()
        self.backbone = backbone
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = x.unsqueeze(1)
        if self.size is not None:
            image = F.interpolate(image, size=(self.size, self.size), mode="bilinear")
        image = image.expand(-1, self.backbone.config.num_channels, -1, -1)
        return self.backbone(pixel_values=image).logits


class ImageBackboneModel(TorchGenreModel):
    """Base of the spectrogram-as-image models; subclasses name the transformers classes."""

    frontend_defaults: ClassVar[dict[str, Any]] = {"n_mels": 128, "n_fft": 2048, "hop": 512}
    config_class: ClassVar[str]
    model_class: ClassVar[str]
    #: Whether the backbone needs square inputs of ``config.image_size`` (ViT).
    fixed_size: ClassVar[bool] = False
    #: Configuration under the user's ``config`` (where the library's default is not wanted).
    base_config: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        pretrained: str | None = None,
        config: dict[str, Any] | None = None,
        image_size: int | None = None,
        **training: Any,
    ):
        super().__init__(**training)
        self.pretrained = pretrained
        self.config = dict(config or {})
        self.image_size = image_size
        self.saved_config: dict[str, Any] | None = None

    def build_network(self, n_classes: int) -> nn.Module:
        import transformers

        config_class = getattr(transformers, self.config_class)
        model_class = getattr(transformers, self.model_class)
        if self.saved_config is not None:
            backbone = model_class(config_class.from_dict(self.saved_config))
        elif self.pretrained:
            backbone = self._from_pretrained(model_class, n_classes)
        else:
            config = {**self.base_config, **self.config}
            backbone = model_class(config_class(num_channels=1, num_labels=n_classes, **config))
        size = self.image_size
        if size is None and self.fixed_size:
            size = backbone.config.image_size
        return SpectrogramImage(backbone, size)

    def _from_pretrained(self, model_class: Any, n_classes: int) -> nn.Module:
        try:
            return model_class.from_pretrained(
                self.pretrained, num_labels=n_classes, ignore_mismatched_sizes=True, **self.config
            )
        except OSError as err:
            raise ModelError(
                f"could not load pretrained weights {self.pretrained!r} (offline or unknown name): "
                f"{str(err).splitlines()[0]}"
            ) from err

    def save_extra(self, directory: Path) -> None:
        config = self.module_[1].backbone.config.to_dict()
        (directory / BACKBONE_CONFIG).write_text(json.dumps(config, indent=2) + "\n")

    def load_extra(self, directory: Path) -> None:
        self.saved_config = json.loads((directory / BACKBONE_CONFIG).read_text())


@register_model("image_resnet")
class ImageResNetModel(ImageBackboneModel):
    config_class = "ResNetConfig"
    model_class = "ResNetForImageClassification"


@register_model("image_convnext")
class ImageConvNextModel(ImageBackboneModel):
    config_class = "ConvNextConfig"
    model_class = "ConvNextForImageClassification"


@register_model("image_efficientnet")
class ImageEfficientNetModel(ImageBackboneModel):
    """EfficientNet-B0 by default (the library's default configuration is the 66M-weight B7)."""

    config_class = "EfficientNetConfig"
    model_class = "EfficientNetForImageClassification"
    base_config: ClassVar[dict[str, Any]] = {
        "width_coefficient": 1.0,
        "depth_coefficient": 1.0,
        "hidden_dim": 1280,
    }


@register_model("image_vit")
class ImageViTModel(ImageBackboneModel):
    config_class = "ViTConfig"
    model_class = "ViTForImageClassification"
    fixed_size = True
