"""ImageNet-style backbones from ``transformers`` reading the mel spectrogram as an image.

Offline, a backbone starts from random weights with a one-channel stem and the configuration
given by ``config`` (else ResNet-50, ConvNeXt-T, EfficientNet-B0, ViT-B/16). With
``pretrained="microsoft/resnet-50"`` (needs a network, or a local folder) the ImageNet weights
are loaded with a new classifier head, and the one spectrogram channel is repeated over the
three colour channels the stem expects. The backbone's configuration is saved in the bundle,
so loading a bundle never downloads anything.

These models also train straight from a folder of spectrogram images, ``<genre>/*.png`` (e.g.
GTZAN's ``images_original``): :func:`image_folder` lists it, :func:`train_on_images` reads the
images as grey levels and fits through the shared trainer. Such a bundle's front end is
``{"kind": "image"}``: it scores images (``genrelab evaluate``), not audio.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from genrelab.errors import DataError, ModelError
from genrelab.features.frontends import Frontend, register_frontend
from genrelab.models.base import register_model
from genrelab.models.bundle import Bundle, ModelCard
from genrelab.neural.base import TorchGenreModel

BACKBONE_CONFIG = "backbone.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: GTZAN's image names (``blues00012.png``) carry the track id ``blues.00012``.
_GTZAN_IMAGE = re.compile(r"([a-z]+)\.?(\d{5})")


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


def image_folder(root: str | Path) -> pd.DataFrame | None:
    """``path, label, group, split`` of every image in ``root/<genre>/``; ``None`` if it holds
    none, or holds audio too (cover art beside songs is no image dataset). A GTZAN image's
    group is its track id, so ``gtzan-filtered`` applies."""
    from genrelab.data import AUDIO_EXTENSIONS

    root = Path(root)
    if not root.is_dir():
        return None
    files = [p for p in root.glob("*/*") if p.is_file()]
    paths = sorted(p for p in files if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths or any(p.suffix.lower() in AUDIO_EXTENSIONS for p in files):
        return None
    rows = []
    for path in paths:
        match = _GTZAN_IMAGE.fullmatch(path.stem)
        group = f"{match[1]}.{match[2]}" if match else f"{path.parent.name}/{path.stem}"
        rows.append({"path": str(path), "label": path.parent.name, "group": group, "split": ""})
    return pd.DataFrame(rows)


def read_images(
    paths: Sequence[str], size: tuple[int, int] | None = None
) -> tuple[np.ndarray, list[int], list[tuple[str, str]]]:
    """Grey levels in [0, 1] as ``(n, height, width)`` float32, every image resized to ``size``
    (width, height; default: the first image's), the indices read and ``(path, error)`` of the
    others."""
    from PIL import Image, UnidentifiedImageError

    images, kept, errors = [], [], []
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                grey = image.convert("L")
        except (OSError, UnidentifiedImageError) as err:
            errors.append((str(path), f"cannot read image: {err}"))
            continue
        size = size or grey.size
        if grey.size != size:
            grey = grey.resize(size, Image.Resampling.BILINEAR)
        images.append(np.asarray(grey, dtype=np.float32) / 255.0)
        kept.append(i)
    if not images:
        return np.zeros((0, 0, 0), np.float32), kept, errors
    return np.stack(images), kept, errors


@register_frontend("image")
def image_frontend(**_: Any) -> Frontend:
    """Image-trained bundles read pictures, which cannot be made from audio windows."""
    raise ModelError(
        "this model was trained on spectrogram images; score it on an image folder with "
        "'genrelab evaluate BUNDLE --data FOLDER'"
    )


def predict_images(bundle: Bundle, paths: Sequence[str]) -> tuple[np.ndarray, list[int], list]:
    """Predicted labels of the images an image-trained bundle can read (see :func:`read_images`)."""
    frontend = bundle.card.frontend
    X, kept, errors = read_images(paths, (frontend["width"], frontend["height"]))
    if not kept:
        return np.zeros(0, dtype=str), kept, errors
    proba = bundle.model.predict_proba(X)
    return np.asarray(bundle.card.labels)[proba.argmax(1)], kept, errors


def train_on_images(
    df: pd.DataFrame,
    model_name: str,
    params: dict[str, Any] | None = None,
    *,
    source: str,
    protocol: str,
    split_seed: int = 0,
    augment: Any = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    progress: bool = True,
) -> tuple[Bundle, list[tuple[str, str]]]:
    """Fit an image backbone on the ``train`` images of a split table, validating per epoch on
    ``valid``; the card records per-image metrics on valid, test and train. Also returns
    ``(path, error)`` of the images that could not be read."""
    from genrelab.evaluation.metrics import classification_metrics
    from genrelab.models import create_model
    from genrelab.neural.data import ArrayBatches, ValidationSet
    from genrelab.neural.trainer import Trainer

    model = create_model(model_name, **(params or {}))
    if not isinstance(model, ImageBackboneModel):
        raise ModelError(
            f"an image folder trains the image backbones ({', '.join(IMAGE_MODELS)}), "
            f"not {model_name!r}"
        )
    if augment is not None and augment.wave is not None:
        raise DataError("images take batch augmentations only (specaugment, mixup), not audio ones")
    parts, errors = {}, []
    size = None
    for part in ("train", "valid", "test"):
        rows = df[df["split"] == part].reset_index(drop=True)
        X, kept, failed = read_images(rows["path"].tolist(), size)
        errors += failed
        if kept:
            size = size or (X.shape[2], X.shape[1])
            parts[part] = (X, rows["label"].to_numpy(str)[kept])
    if "train" not in parts:
        raise DataError(f"{source}: the {protocol} split left no readable training image")
    X_train, y_train = parts["train"]
    classes = sorted(set(y_train))
    model.setup(classes, X_train)
    if augment is not None and augment.batch is not None:
        augment.batch.check(model.input_shape_)
    valid = None
    if "valid" in parts and (known := np.isin(parts["valid"][1], classes)).any():
        X_valid, y_valid = parts["valid"]
        valid = ValidationSet(X_valid[known], model.encode_labels(y_valid[known]))
    started = time.perf_counter()
    trainer = Trainer(
        model,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        resume=resume,
        augment=augment.batch if augment is not None else None,
        progress=progress,
    )
    batches = ArrayBatches(X_train, model.encode_labels(y_train), model.batch_size, model.seed)
    history = trainer.fit(batches, valid)
    labels = sorted(set(classes) | {str(v) for _, y in parts.values() for v in y})
    validation = [
        {
            "protocol": f"{protocol} (seed {split_seed}): trained on train, scored on {part}",
            "split": part,
            "metrics": classification_metrics(
                y, np.asarray(classes)[model.predict_proba(X).argmax(1)], labels
            ),
        }
        for part, (X, y) in ((p, parts[p]) for p in ("valid", "test", "train") if p in parts)
    ]
    height, width = X_train.shape[1:]
    card = ModelCard(
        model=model_name,
        params=model.get_params(),
        labels=classes,
        sample_rate=22050,
        frontend={
            "kind": "image",
            "mode": "L",
            "height": int(height),
            "width": int(width),
            # What read_images does, so a reader of the card can feed the model by hand.
            "resize": "bilinear",
            "scale": "grey level / 255, in [0, 1]",
        },
        training={
            "data": source,
            "protocol": protocol,
            "seed": split_seed,
            "images": len(X_train),
            "class_counts": {str(k): int(v) for k, v in pd.Series(y_train).value_counts().items()},
            "epochs_run": len(history),
            "augment": augment.specs if augment is not None else [],
            "unreadable": len(errors),
            "device": str(model.torch_device),
            "seconds": round(time.perf_counter() - started, 1),
        },
        validation=validation,
    )
    return Bundle(card, model), errors


IMAGE_MODELS = ("image_resnet", "image_convnext", "image_efficientnet", "image_vit")
